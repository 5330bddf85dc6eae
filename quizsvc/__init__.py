"""quizsvc: an exam-prep service built on a validated flashcard bank."""

__version__ = "0.1.0"
