"""Subcommands of `tenohira reservations …` that live in a module of their own.

A module here defines `add_arguments(parser)` and `handle(command, **options)` (command is
the Django BaseCommand, for its stdout/stderr); the dispatcher
(management/commands/reservations.py) registers it in its SUBCOMMANDS.
"""
