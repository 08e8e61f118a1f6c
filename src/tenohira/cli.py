"""The `tenohira` console command: Django's manage.py under the product's name.

`tenohira demo` switches the settings into demo mode (its own data directory, the demo
banner, the printed sign-in codes; never DEBUG) before Django loads them, because
settings cannot change once loaded.
"""

import os
import sys


def _asks_for_help(args: list[str]) -> bool:
    """`tenohira`, `tenohira --help`, `tenohira help [command]`, `tenohira CMD --help`."""
    if not args or args[0] in {"help", "--help", "-h", "--version", "version"}:
        return True
    return any(arg in {"--help", "-h"} for arg in args[1:])


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv if argv is None else argv)
    if len(argv) > 1 and argv[1] == "demo":
        os.environ.setdefault("TENOHIRA_DEMO", "1")
    if _asks_for_help(argv[1:]):
        os.environ["TENOHIRA_HELP_ONLY"] = "1"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tenohira.config.settings")
    from django.core.management import execute_from_command_line

    argv[0] = "tenohira"
    execute_from_command_line(argv)


if __name__ == "__main__":
    main()
