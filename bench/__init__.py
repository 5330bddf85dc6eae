"""Benchmarks: ``python -m bench`` (``make bench``) runs them all and prints one table.

Each script also runs on its own: ``.venv/bin/python bench/<name>.py``.
"""
