"""Subcommands of `tenohira reservations …`, one module each.

A module here defines NAME (the subcommand, e.g. "ticket-machine"), HELP,
`add_arguments(parser)` and `handle(command, **options)` (command is the Django
BaseCommand, for its stdout/stderr). The dispatcher
(management/commands/reservations.py) finds every module of this package, so adding a
subcommand is adding a module.
"""
