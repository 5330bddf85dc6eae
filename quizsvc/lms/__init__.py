"""LMS integration: LTI 1.3 launch and grade passback, question-bank exports."""
