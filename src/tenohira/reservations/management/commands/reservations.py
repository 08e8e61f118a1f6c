"""`tenohira reservations <subcommand>`: the reservations' commands for operators.

Each subcommand is a function registered in SUBCOMMANDS with its own arguments, so other
parts of the reservations can add theirs here.

- draw LOTTERY_ID: 抽選 (as the staff button does: reveals the seed, books the winners,
  e-mails everyone).
- redraw --seed SEED --entries entries.csv --capacities capacities.csv: re-runs the draw
  offline from the published files and prints every result and the digest, to check a
  published lottery (needs no database rows).
- ticket-machine add NAME COUNTER_CODE… | list | rotate ID | disable ID: queue-ticket
  machines (発券機) and their keys (reservations/commands/ticket_machine.py).
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError


def _draw_arguments(parser) -> None:
    parser.add_argument("lottery_id", type=int)


def _draw(command: BaseCommand, options: dict) -> None:
    from tenohira.reservations import allocation_services
    from tenohira.reservations.errors import BookingRefused
    from tenohira.reservations.models import Lottery

    lottery = Lottery.objects.filter(pk=options["lottery_id"]).first()
    if lottery is None:
        raise CommandError(f"抽選 {options['lottery_id']} はありません。")
    try:
        result = allocation_services.draw(lottery)
    except BookingRefused as refused:
        raise CommandError(refused.message) from refused
    command.stdout.write(f"{lottery.title}: 申込み {len(result.won)} 件、当選 {len(result.winners)} 件")
    command.stdout.write(f"seed {lottery.seed}")
    command.stdout.write(f"digest {result.digest}")


def _redraw_arguments(parser) -> None:
    parser.add_argument("--seed", required=True, help="公開されたシード")
    parser.add_argument("--entries", required=True, type=Path, help="公開された申込みの CSV（entries.csv）")
    parser.add_argument("--capacities", required=True, type=Path, help="公開された枠ごとの数の CSV（capacities.csv）")
    parser.add_argument("--seed-hash", default="", help="抽選前に公開されたシードの SHA-256（照合する）")


def _redraw(command: BaseCommand, options: dict) -> None:
    from tenohira.reservations import lottery

    try:
        entries, published = lottery.read_entries(options["entries"].read_text(encoding="utf-8"))
        capacities = lottery.read_capacities(options["capacities"].read_text(encoding="utf-8"))
    except (OSError, KeyError, ValueError) as exc:
        raise CommandError(f"CSV を読めません: {exc}") from exc
    seed = options["seed"]
    result = lottery.draw(seed, entries, capacities)
    command.stdout.write("number,result")
    for number in sorted(result.won):
        slot = result.won[number]
        command.stdout.write(f"{number},{'' if slot is None else slot}")
    command.stdout.write(f"winners {len(result.winners)}")
    command.stdout.write(f"seed_hash {lottery.seed_hash(seed)}")
    command.stdout.write(f"digest {result.digest}")
    if options["seed_hash"] and options["seed_hash"].lower() != lottery.seed_hash(seed):
        raise CommandError("シードの SHA-256 が公開された値と一致しません。")
    if any(v is not None for v in published.values()):
        if published != result.won:
            raise CommandError("公開された結果と一致しません。")
        command.stdout.write("公開された結果と一致します。")


def _ticket_machine(command: BaseCommand, options: dict) -> None:
    from tenohira.reservations.commands import ticket_machine

    ticket_machine.handle(command, **options)


def _ticket_machine_arguments(parser) -> None:
    from tenohira.reservations.commands import ticket_machine

    ticket_machine.add_arguments(parser)


def _purge_arguments(parser) -> None:
    parser.add_argument("--apply", action="store_true", help="本当に削除する（省略時は件数を数えるだけ）")


def _purge(command: BaseCommand, options: dict) -> None:
    from tenohira.reservations import retention

    command.stdout.write(retention.purge(apply=options["apply"]).summary())


#: name -> (help, add arguments, run)
SUBCOMMANDS = {
    "draw": ("抽選する", _draw_arguments, _draw),
    "redraw": ("公開されたシードと申込みから抽選をやり直して結果を確かめる", _redraw_arguments, _redraw),
    "purge": ("保存期間を過ぎた予約・抽選・キャンセル待ちの個人情報を削除する（--apply がなければ件数だけ）",
              _purge_arguments, _purge),
    "ticket-machine": ("発券機の登録（キーは一度だけ表示）、一覧、キーの再発行、停止", _ticket_machine_arguments,
                       _ticket_machine),
}


class Command(BaseCommand):
    help = "予約の操作: " + "、".join(f"{name}（{spec[0]}）" for name, spec in SUBCOMMANDS.items())

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="subcommand", required=True)
        for name, (text, arguments, _run) in SUBCOMMANDS.items():
            arguments(sub.add_parser(name, help=text))

    def handle(self, *args, subcommand, **options):
        SUBCOMMANDS[subcommand][2](self, options)
