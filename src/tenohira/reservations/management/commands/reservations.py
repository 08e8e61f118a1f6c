"""`tenohira reservations <subcommand> …`: the reservations' operator commands.

Each subcommand lives in its own module under tenohira.reservations.commands (see its
package docstring); this dispatcher only finds them and hands over.
"""

from __future__ import annotations

import importlib
import pkgutil

from django.core.management.base import BaseCommand, CommandError

from tenohira.reservations import commands as package


def subcommands() -> dict:
    found = {}
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        name = getattr(module, "NAME", None)
        if name:
            found[name] = module
    return found


class Command(BaseCommand):
    help = "予約の運用コマンド（発券機の登録、抽選など）。"

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="subcommand", required=True)
        for name, module in subcommands().items():
            module.add_arguments(sub.add_parser(name, help=getattr(module, "HELP", "")))

    def handle(self, *args, subcommand, **options):
        module = subcommands().get(subcommand)
        if module is None:  # argparse refuses unknown names first; kept for call_command
            raise CommandError(f"{subcommand} というサブコマンドはありません。")
        return module.handle(self, **options)
