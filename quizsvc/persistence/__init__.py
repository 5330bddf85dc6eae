"""Persistence by aggregate, combined in :class:`quizsvc.store.Store`."""
