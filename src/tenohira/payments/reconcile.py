"""消込: a provider's settlement file (入金明細) matched against the payments it pays out.

`import_settlement` reads one file through the provider's `parse_settlement` and matches
each line to a Payment by (provider, provider_ref = the line's transaction id). A line
whose amount equals the payment's moves the payment settled → reconciled (入金日, the
provider's fee and the import are kept on it) and its assessment to reconciled. What needs
a person is reported, line by line, in four lists:

* unmatched  — no payment of this provider has the transaction id;
* duplicate  — the transaction twice in the file, or already reconciled by an earlier file;
* mismatched — the amount differs from the payment's (or the payment never took the
  money): never reconciled, whatever else the line says;
* late       — paid out more than PAYMENTS_SETTLEMENT_LATE_DAYS (default 10) days after
  capture, or captured after the assessment's deadline: reconciled, but reported.

The whole file is one transaction: a file the provider cannot read is refused with every
bad line and changes nothing; the same file (by SHA-256) is never read twice.

Speed: a settlement file of a busy month holds 100,000 lines, so nothing here is per row
against the database. Payments are read in chunks by provider_ref IN (…), written with one
UPDATE per chunk (PostgreSQL: UPDATE … FROM (VALUES …)), assessments likewise, and the
state-change events bulk-inserted. The moves are the state machine's own (the tables of
payments.states) — checked here for every row, and the UPDATEs repeat the expected state
in their WHERE, so a payment that moved meanwhile (a refund) makes the whole import fail
and roll back rather than be overwritten. Each matched line leaves one PaymentEvent (kind
"reconcile") on its payment and assessment: the payment's move in from_state/to_state, the
assessment's in detail["assessment"] = {"from", "to"} — one row per line, not two, because
at 100,000 lines the events are most of the import's writing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone

from tenohira.core.fiscal import JST
from tenohira.payments.models import Assessment, Payment, PaymentEvent, SettlementImport
from tenohira.payments.registry import Provider, SettlementLine, register
from tenohira.payments.states import ASSESSMENT_MOVES, PAYMENT_MOVES

logger = logging.getLogger(__name__)

A = Assessment.State
P = Payment.State

#: Bounds checked on the bytes, before the provider parses anything.
MAX_BYTES = 32 * 1024 * 1024
MAX_LINES = 200_000
DEFAULT_LATE_DAYS = 10
KINDS = ("unmatched", "duplicate", "mismatched", "late")
KIND_LABELS = {
    "unmatched": "該当する支払いがない",
    "duplicate": "重複",
    "mismatched": "金額・状態の不一致",
    "late": "入金の遅れ",
}
#: A payment whose money the city has: reconciled from one of these.
RECONCILABLE = {P.CAPTURED, P.SETTLED}
#: Already refunded (in part or whole) before the payout arrived: the payout is still
#: the provider's, so the line is matched and kept on the payment, without a move.
REFUNDED = {P.REFUNDED, P.PARTIALLY_REFUNDED}


class SettlementRefused(Exception):
    """The file was not imported; `problems` are the reasons, in Japanese, each on its own."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


class _DryRun(Exception):
    def __init__(self, result: SettlementImport):
        self.result = result


@dataclass
class _Match:
    line: SettlementLine
    payment_id: int
    assessment_id: int
    payment_state: str
    assessment_state: str
    fee: int | None
    late: str = ""
    events: list = field(default_factory=list)
    moves: bool | None = None


def late_days() -> int:
    return int(getattr(settings, "PAYMENTS_SETTLEMENT_LATE_DAYS", DEFAULT_LATE_DAYS))


def _yen(value: Decimal | int | None) -> int | None:
    if value is None:
        return None
    return int(Decimal(value).to_integral_value(rounding=ROUND_HALF_UP))


def _entry(line: SettlementLine, message: str, **extra) -> dict:
    return {
        "line": line.line_number,
        "transaction_id": line.transaction_id,
        "amount": _yen(line.amount) if Decimal(line.amount) == Decimal(line.amount).to_integral_value()
        else str(line.amount),
        "settled_on": line.settled_on.isoformat(),
        "message": message,
        **extra,
    }


def _provider(name: str) -> Provider:
    provider = register.get(name)
    if provider is None:
        known = "、".join(register.names()) or "なし"
        raise SettlementRefused([f"支払い方法「{name}」は登録されていません（登録済み: {known}）。"])
    if type(provider).parse_settlement is Provider.parse_settlement:
        raise SettlementRefused([
            f"支払い方法「{provider.label or name}」には入金明細の取込みがありません（窓口での支払いなど）。"
        ])
    return provider


def _parse(provider: Provider, data: bytes) -> list[SettlementLine]:
    try:
        lines = provider.parse_settlement(data)
    except DatabaseError:
        raise
    except Exception as exc:  # the provider's own refusal, with every bad line
        problems = [text for text in str(exc).splitlines() if text.strip()] or [
            "入金明細を読み取れませんでした。"
        ]
        problems = getattr(exc, "problems", None) or getattr(exc, "errors", None) or problems
        raise SettlementRefused([str(p) for p in problems]) from exc
    if len(lines) > MAX_LINES:
        raise SettlementRefused([f"入金明細が {len(lines):,} 行あります。1 ファイル {MAX_LINES:,} 行までです。"])
    return list(lines)


def _q(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _payments_by_ref(provider: str, refs: list[str]) -> dict[str, dict]:
    """The payments the file names, by transaction id, with what matching needs: each
    payment's capture day in Japan time, and its capture and deadline as text for the rare
    line reported late (turning 100,000 timestamps into Python objects cost more than the
    rest of the read)."""
    found: dict[str, dict] = {}
    if connection.vendor == "postgresql":
        # The references go in by COPY: 100,000 of them as one array parameter cost
        # seconds of quoting on the client.
        with connection.cursor() as wrapper:
            cursor = wrapper.cursor
            # ON COMMIT DROP ends it with the transaction; an import inside a larger
            # transaction (a test, a script) may find the previous one's still there.
            cursor.execute("DROP TABLE IF EXISTS pg_temp.reconcile_refs")
            cursor.execute("CREATE TEMPORARY TABLE reconcile_refs (ref text) ON COMMIT DROP")
            with cursor.copy("COPY reconcile_refs FROM STDIN") as copy:
                for ref in refs:
                    copy.write_row((ref,))
            local = "'Asia/Tokyo'"
            cursor.execute(
                "SELECT p.id, p.provider_ref, p.amount, p.currency, p.state, "  # noqa: S608
                f"to_char(p.captured_at AT TIME ZONE {local}, 'YYYY-MM-DD HH24:MI'), "
                "p.settlement_id, p.assessment_id, a.state, "
                f"to_char(a.expires_at AT TIME ZONE {local}, 'YYYY-MM-DD HH24:MI'), "
                "coalesce(p.captured_at > a.expires_at, false) "
                f"FROM reconcile_refs r JOIN {_q(Payment)} p ON p.provider_ref = r.ref "
                f"JOIN {_q(Assessment)} a ON a.id = p.assessment_id "
                # The partial unique index's own condition, so the index can serve the join.
                "WHERE p.provider = %s AND p.provider_ref <> ''",
                [provider],
            )
            rows = cursor.fetchall()
        for pk, ref, amount, currency, state, captured, settlement, assessment, a_state, expires, after in rows:
            found[ref] = {
                "pk": pk, "amount": amount, "currency": currency, "state": state, "captured": captured,
                "settlement_id": settlement, "assessment_id": assessment, "assessment_state": a_state,
                "expires": expires, "after_expiry": after,
            }
        return found
    size = 900  # SQLite: bound on variables
    for start in range(0, len(refs), size):
        chunk = refs[start:start + size]
        rows = Payment.objects.filter(provider=provider, provider_ref__in=chunk).exclude(provider_ref="").values_list(
            "pk", "provider_ref", "amount", "currency", "state", "captured_at", "settlement_id",
            "assessment_id", "assessment__state", "assessment__expires_at",
        )
        for pk, ref, amount, currency, state, captured, settlement, assessment, a_state, expires in rows:
            found[ref] = {
                "pk": pk, "amount": amount, "currency": currency, "state": state,
                "captured": _local_text(captured), "settlement_id": settlement, "assessment_id": assessment,
                "assessment_state": a_state, "expires": _local_text(expires),
                "after_expiry": captured is not None and expires is not None and captured > expires,
            }
    return found


def _local_text(moment: dt.datetime | None) -> str | None:
    return f"{timezone.localtime(moment, JST):%Y-%m-%d %H:%M}" if moment is not None else None


def _late(line: SettlementLine, payment: dict, days: int) -> str:
    captured = payment["captured"]  # "YYYY-MM-DD HH:MM" in Japan time, or None
    if captured is None:
        return ""
    reasons = []
    captured_day = dt.date.fromisoformat(captured[:10])
    waited = (line.settled_on - captured_day).days
    if waited > days:
        reasons.append(f"支払日 {captured_day.isoformat()} から {waited} 日後の入金です（{days} 日を超えています）。")
    if payment["after_expiry"]:
        reasons.append(f"支払期限（{payment['expires']}）の後に支払われています（{captured}）。")
    return "".join(reasons)


def _classify(lines: list[SettlementLine], payments: dict[str, dict], report: dict, days: int) -> list[_Match]:
    seen: dict[str, int] = {}
    matches: list[_Match] = []
    for line in lines:
        first = seen.get(line.transaction_id)
        if first is not None:
            report["duplicate"].append(_entry(line, f"同じ取引が {first} 行目にもあります（消込は {first} 行目の 1 回だけ）。"))
            continue
        seen[line.transaction_id] = line.line_number
        payment = payments.get(line.transaction_id)
        if payment is None:
            report["unmatched"].append(_entry(line, "この取引IDの支払いがありません。"))
            continue
        if payment["settlement_id"] is not None or payment["state"] == P.RECONCILED:
            report["duplicate"].append(_entry(
                line, "この支払いは前の入金明細で消込済みです。",
                previous_import=payment["settlement_id"],
            ))
            continue
        amount = Decimal(line.amount)
        if amount != payment["amount"] or payment["currency"] != "JPY":
            report["mismatched"].append(_entry(
                line, f"金額が違います（入金明細 {line.amount} 円、支払い {payment['amount']:,} 円）。消込していません。",
                expected=payment["amount"],
            ))
            continue
        if payment["state"] not in RECONCILABLE | REFUNDED:
            label = P(payment["state"]).label if payment["state"] in P.values else payment["state"]
            report["mismatched"].append(_entry(
                line, f"支払いが「{label}」のままで、入金を受けたことになっていません。消込していません。",
                expected=payment["amount"], state=payment["state"],
            ))
            continue
        match = _Match(line=line, payment_id=payment["pk"], assessment_id=payment["assessment_id"],
                       payment_state=payment["state"], assessment_state=payment["assessment_state"],
                       fee=_yen(line.fee))
        match.late = _late(line, payment, days)
        if match.late:
            report["late"].append(_entry(line, match.late + "消込しました。"))
        matches.append(match)
    return matches


def _write(matches: list[_Match], record: SettlementImport, user, now: dt.datetime) -> None:
    """Payments and assessments moved, in bulk, with their events."""
    for m in matches:  # the state machine's rule, for every row (payments.states)
        if m.payment_state in RECONCILABLE and P.RECONCILED not in PAYMENT_MOVES[m.payment_state]:
            raise SettlementRefused([f"{m.line.line_number}行目: 支払いを消込済みにできません。"])
    actor_label = (getattr(user, "username", "") or "入金明細の取込み")[:100]
    actor = user.pk if user is not None and user.pk else None
    if connection.vendor == "postgresql":
        _write_postgresql(matches, record, actor, actor_label, now)
    else:
        _write_orm(matches, record, actor, actor_label, now)


def _moves_assessment(m: _Match) -> bool:
    if m.moves is None:  # asked several times per line: the answer is kept on the match
        m.moves = m.payment_state in RECONCILABLE and A.RECONCILED in ASSESSMENT_MOVES.get(m.assessment_state, set())
    return m.moves


def _payment_detail(m: _Match, record: SettlementImport) -> dict:
    detail = {"settlement_import": record.pk, "line": m.line.line_number,
              "settled_on": m.line.settled_on.isoformat(), "fee": m.fee}
    if m.late:
        detail["late"] = True
    if _moves_assessment(m):
        detail["assessment"] = {"from": m.assessment_state, "to": A.RECONCILED}
    return detail


def _write_postgresql(matches: list[_Match], record: SettlementImport, actor, actor_label: str,
                      now: dt.datetime) -> None:
    """One COPY of the matched lines into a temporary table, then one UPDATE of the
    payments, one of the assessments and one INSERT of the events, all joined to it:
    100,000 rows as query parameters would cost more to send than the work itself."""
    with connection.cursor() as wrapper:
        cursor = wrapper.cursor  # psycopg's own cursor, for COPY
        cursor.execute("DROP TABLE IF EXISTS pg_temp.reconcile_lines")
        cursor.execute(
            "CREATE TEMPORARY TABLE reconcile_lines (payment_id bigint, assessment_id bigint, settled_on date, "
            "fee integer, old_state text, new_state text, assessment_from text, line integer, late boolean) "
            "ON COMMIT DROP"
        )
        with cursor.copy("COPY reconcile_lines FROM STDIN") as copy:
            for m in matches:
                moving = m.payment_state in RECONCILABLE
                copy.write_row((m.payment_id, m.assessment_id, m.line.settled_on, m.fee, m.payment_state,
                                P.RECONCILED if moving else m.payment_state,
                                m.assessment_state if _moves_assessment(m) else None, m.line.line_number,
                                bool(m.late)))
        cursor.execute("ANALYZE reconcile_lines")  # row counts for the planner: hash joins, not loops
        cursor.execute(
            f"UPDATE {_q(Payment)} AS p SET state = t.new_state, settlement_id = %s, updated_at = %s, "  # noqa: S608
            "settled_on = t.settled_on, provider_fee = t.fee FROM reconcile_lines t "
            "WHERE p.id = t.payment_id AND p.state = t.old_state AND p.settlement_id IS NULL",
            [record.pk, now],
        )
        if cursor.rowcount != len(matches):
            raise SettlementRefused(["取込み中に支払いの状態が変わりました（返金など）。もう一度取り込んでください。"])
        expected = len({(m.assessment_id, m.assessment_state) for m in matches if _moves_assessment(m)})
        cursor.execute(
            f"UPDATE {_q(Assessment)} AS a SET state = %s, updated_at = %s "  # noqa: S608
            "FROM (SELECT DISTINCT assessment_id, assessment_from FROM reconcile_lines "
            "WHERE assessment_from IS NOT NULL) t WHERE a.id = t.assessment_id AND a.state = t.assessment_from",
            [A.RECONCILED, now],
        )
        if cursor.rowcount != expected:
            raise SettlementRefused(["取込み中に調定の状態が変わりました。もう一度取り込んでください。"])
        columns = ("assessment_id, payment_id, at, kind, provider, provider_event_id, from_state, to_state, "
                   "actor_id, actor_label, detail")
        cursor.execute(
            f"INSERT INTO {_q(PaymentEvent)} ({columns}) "  # noqa: S608
            "SELECT t.assessment_id, t.payment_id, %s, 'reconcile', '', '', "
            "CASE WHEN t.new_state = t.old_state THEN '' ELSE t.old_state END, "
            "CASE WHEN t.new_state = t.old_state THEN '' ELSE t.new_state END, %s::bigint, %s::text, "
            "jsonb_build_object('settlement_import', %s::bigint, 'line', t.line, 'settled_on', t.settled_on::text, "
            "'fee', t.fee) || CASE WHEN t.late THEN '{\"late\": true}'::jsonb ELSE '{}'::jsonb END "
            "|| CASE WHEN t.assessment_from IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('assessment', "
            "jsonb_build_object('from', t.assessment_from, 'to', %s::text)) END "
            "FROM reconcile_lines t",
            [now, actor, actor_label, record.pk, A.RECONCILED],
        )


def _write_orm(matches: list[_Match], record: SettlementImport, actor, actor_label: str, now: dt.datetime) -> None:
    """SQLite (the embedded demo): the same rows through the ORM, the expected states
    checked before writing."""
    ids = [m.payment_id for m in matches]
    for start in range(0, len(ids), 900):
        chunk = ids[start:start + 900]
        wanted = {m.payment_id: m.payment_state for m in matches[start:start + 900]}
        current = dict(Payment.objects.filter(pk__in=chunk, settlement__isnull=True).values_list("pk", "state"))
        if current != wanted:
            raise SettlementRefused(["取込み中に支払いの状態が変わりました（返金など）。もう一度取り込んでください。"])
    Payment.objects.bulk_update(
        [Payment(pk=m.payment_id, state=P.RECONCILED if m.payment_state in RECONCILABLE else m.payment_state,
                 settlement_id=record.pk, updated_at=now, settled_on=m.line.settled_on, provider_fee=m.fee)
         for m in matches],
        ["state", "settlement", "updated_at", "settled_on", "provider_fee"], batch_size=200,
    )
    moving: dict[str, set[int]] = {}
    for m in matches:
        if _moves_assessment(m):
            moving.setdefault(m.assessment_state, set()).add(m.assessment_id)
    for old_state, assessment_ids in moving.items():
        ordered = sorted(assessment_ids)
        for start in range(0, len(ordered), 900):
            chunk = ordered[start:start + 900]
            if Assessment.objects.filter(pk__in=chunk, state=old_state).update(
                state=A.RECONCILED, updated_at=now
            ) != len(chunk):
                raise SettlementRefused(["取込み中に調定の状態が変わりました。もう一度取り込んでください。"])
    events = []
    for m in matches:
        moved = m.payment_state in RECONCILABLE
        events.append(PaymentEvent(
            assessment_id=m.assessment_id, payment_id=m.payment_id, at=now, kind="reconcile",
            from_state=m.payment_state if moved else "", to_state=P.RECONCILED if moved else "", actor_id=actor,
            actor_label=actor_label, detail=_payment_detail(m, record),
        ))
    PaymentEvent.objects.bulk_create(events, batch_size=500)


def import_settlement(data: bytes, *, provider: str, file_name: str, user=None,
                      dry_run: bool = False) -> SettlementImport:
    """Read one settlement file and reconcile what it pays out (see the module's doc).

    Raises SettlementRefused (nothing changed) for a file already imported, too large,
    unreadable, or of a provider that sends none. `dry_run` matches and reports without
    keeping anything; the returned SettlementImport is then not stored."""
    if len(data) > MAX_BYTES:
        raise SettlementRefused([f"ファイルが大きすぎます（{len(data) / 1024 / 1024:.1f} MB）。"
                                 f"{MAX_BYTES // 1024 // 1024} MB までです。"])
    if data.count(b"\n") > MAX_LINES + 1:  # a header line is allowed on top of the limit
        raise SettlementRefused([f"入金明細の行が多すぎます。1 ファイル {MAX_LINES:,} 行までです。"])
    plugin = _provider(provider)
    digest = hashlib.sha256(data).hexdigest()
    previous = SettlementImport.objects.filter(sha256=digest).first()
    if previous is not None:
        raise SettlementRefused([
            f"このファイルは {timezone.localtime(previous.imported_at, JST):%Y-%m-%d %H:%M} に取込み済みです"
            f"（{previous.file_name}）。同じ入金明細は二度取り込めません。"
        ])
    lines = _parse(plugin, data)
    days = late_days()
    now = timezone.now()
    try:
        with transaction.atomic():
            record = SettlementImport(provider=provider, file_name=file_name[:255], sha256=digest,
                                      imported_at=now, imported_by=user if user and user.pk else None,
                                      lines=len(lines))
            try:
                with transaction.atomic():
                    record.save()
            except IntegrityError:  # the same file, imported at the same moment elsewhere
                raise SettlementRefused(["このファイルは取込み済みです。同じ入金明細は二度取り込めません。"]) from None
            report: dict[str, list] = {kind: [] for kind in KINDS}
            payments = _payments_by_ref(provider, list({line.transaction_id for line in lines}))
            matches = _classify(lines, payments, report, days)
            _write(matches, record, user, now)
            record.matched = len(matches)
            record.report = report
            record.save(update_fields=["matched", "report"])
            if dry_run:
                raise _DryRun(record)
    except _DryRun as done:
        done.result.pk = None
        done.result._state.adding = True
        return done.result
    logger.info("settlement import %s: provider=%s lines=%d matched=%d problems=%s", record.pk, provider,
                record.lines, record.matched, {k: len(v) for k, v in record.report.items()})
    return record


def summary(record: SettlementImport) -> dict[str, int]:
    """Counts of each list, for lists and messages."""
    return {kind: len((record.report or {}).get(kind, [])) for kind in KINDS}
