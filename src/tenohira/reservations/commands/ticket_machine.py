"""`tenohira reservations ticket-machine add|list|rotate|disable`: queue-ticket machines
(発券機) that post their counters' waiting count to /api/v1/counters/<code>/queue.

The key is printed once (only its SHA-256 is kept): give it to whoever configures the
machine, and rotate it if it may have leaked.
"""

from __future__ import annotations

from django.core.management.base import CommandError


def add_arguments(parser) -> None:
    actions = parser.add_subparsers(dest="machine_action", required=True)
    add = actions.add_parser("add", help="発券機を登録し、キーを表示する")
    add.add_argument("name", help="発券機の名前（例: 本庁舎1階 発券機）")
    add.add_argument("counters", nargs="+", metavar="COUNTER_CODE", help="待ち人数を送る窓口のコード")
    actions.add_parser("list", help="登録した発券機の一覧")
    rotate = actions.add_parser("rotate", help="キーを再発行する（古いキーはすぐ使えなくなる）")
    rotate.add_argument("id", type=int)
    disable = actions.add_parser("disable", help="発券機を停止する")
    disable.add_argument("id", type=int)


def handle(command, *, machine_action, **options) -> None:
    from tenohira.reservations import congestion
    from tenohira.reservations.models import TicketMachine

    out = command.stdout
    if machine_action == "add":
        try:
            machine, key = congestion.add_machine(options["name"], options["counters"])
        except congestion.Invalid as exc:
            raise CommandError(str(exc)) from exc
        codes = ", ".join(machine.counters.order_by("code").values_list("code", flat=True))
        out.write(f"発券機「{machine.name}」（番号 {machine.pk}）を登録しました。窓口: {codes}")
        out.write(f"キー（この一度だけ表示します）: {key}")
        return
    if machine_action == "list":
        for machine in TicketMachine.objects.prefetch_related("counters").order_by("pk"):
            codes = ", ".join(sorted(c.code for c in machine.counters.all()))
            seen = f"{machine.last_seen_at:%Y-%m-%d %H:%M}" if machine.last_seen_at else "未受信"
            state = "" if machine.active else "（停止中）"
            out.write(f"{machine.pk}\t{machine.name}{state}\t{machine.key_prefix}…\t{codes}\t最後の受信: {seen}")
        return
    machine = TicketMachine.objects.filter(pk=options["id"]).first()
    if machine is None:
        raise CommandError(f"番号 {options['id']} の発券機はありません。")
    if machine_action == "rotate":
        key = congestion.rotate_key(machine)
        out.write(f"発券機「{machine.name}」の新しいキー（この一度だけ表示します）: {key}")
    else:
        TicketMachine.objects.filter(pk=machine.pk).update(active=False)
        out.write(f"発券機「{machine.name}」を停止しました。")
