"""Reactions to the resident side (applications.signals): filled in by the payments work."""


def connect() -> None:
    pass
