"""The card bank: loading, validation, import and export of flashcard decks."""

from quizsvc.bank.loader import BankError, Problem, load_bank, validate_bank
from quizsvc.bank.model import Bank, Card, Deck

__all__ = ["Bank", "BankError", "Card", "Deck", "Problem", "load_bank", "validate_bank"]
