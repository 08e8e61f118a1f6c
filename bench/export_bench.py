"""Bulk export of 100,000 submissions: rows per second and peak memory, and the queue's
first page at that size.

    .venv/bin/python bench/export_bench.py                  # PostgreSQL, 100,000 rows
    .venv/bin/python bench/export_bench.py --rows 20000 --small 2000 --keep

What it builds: a throwaway PostgreSQL database (created, migrated, dropped at the end), a
department with four sections, a ~20-field form (name with furigana, address, phone,
e-mail, dates, choices, a multichoice, yes/no, numbers, a free text with line breaks, a
file field, a repeating group of up to 3 children) published through forms.services on
one procedure per section, a handler of the first section, and `--rows` submissions of
that section (plus 10 % more spread over the three other sections, so scoping filters
real rows), inserted with bulk_create in batches: answers and the check-page summary as
the engine stores them, spread over the last 365 days, in every status, a third with an
attachment row (names only; no files on disk). A sample of the generated answers is run
back through the form engine first: a shape the engine would not produce stops the run.

What it measures, each export in a fresh Python process (so one run's memory cannot hide
in another's): the real staff endpoint POST /staff/export/ (signed in, OTP-verified,
status=all: every row of the section) for CSV UTF-8, CSV CP932 (its check pass included:
the file is written while every cell is checked, and served only when clean) and XLSX,
at `--rows` and at about `--small` rows (a date filter), reading the whole download.
Printed per run: rows, seconds, rows/s, time to the first byte, bytes, and the process's
peak RSS (getrusage ru_maxrss = VmHWM) next to its RSS before the export began. Then the
queue's first page: selectors.queue(handler, section) first 50 rows plus the capped count
the queue page shows (COUNT over LIMIT 10,001), the same through GET /staff/ (the whole
page), and a name search. Last, the target line `peak RSS < 200 MB: PASS/FAIL`.

Figures are printed, never asserted: they depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _database import create_database, setup_django

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DB_URL = "postgres://postgres@127.0.0.1:5432/tenohira_bench_export"
TARGET_RSS_MB = 200
FORMATS = ["csv-utf8", "csv-cp932", "xlsx"]
BATCH = 5000
USERNAME = "bench-tanto"
EXTRA_SECTIONS = 3

CHILD_GRADES = [{"value": str(n), "label": f"{n}年生"} for n in range(1, 7)]
FORM = {
    "title": "放課後児童クラブ入所申請",
    "email_field": "email",
    "steps": [
        {"key": "guardian", "title": "申請する方", "fields": [
            {"key": "guardian_name", "type": "name", "label": "保護者の氏名", "required": True},
            {"key": "relationship", "type": "choice", "label": "お子さんとの続柄", "required": True, "choices": [
                {"value": "father", "label": "父"}, {"value": "mother", "label": "母"},
                {"value": "grandparent", "label": "祖父母"}, {"value": "other", "label": "その他"}]},
            {"key": "birth_date", "type": "date", "label": "保護者の生年月日", "required": True},
            {"key": "address", "type": "address", "label": "住所", "required": True},
            {"key": "phone", "type": "phone", "label": "日中に連絡がとれる電話番号", "required": True},
            {"key": "email", "type": "email", "label": "メールアドレス", "required": True},
        ]},
        {"key": "child", "title": "お子さん", "fields": [
            {"key": "children", "type": "group", "label": "入所を希望するお子さん", "row_label": "お子さん",
             "min": 1, "max": 3, "fields": [
                 {"key": "child_name", "type": "name", "label": "氏名", "required": True},
                 {"key": "birth_date", "type": "date", "label": "生年月日", "required": True},
                 {"key": "school", "type": "text", "label": "学校名", "required": True},
                 {"key": "grade", "type": "choice", "label": "学年", "required": True, "choices": CHILD_GRADES},
             ]},
        ]},
        {"key": "work", "title": "就労の状況", "fields": [
            {"key": "guide", "type": "guidance", "text": "同居する保護者が2人以上いる場合は、申請する方について答えてください。"},
            {"key": "working", "type": "yesno", "label": "保護者は就労していますか", "required": True},
            {"key": "employer", "type": "text", "label": "勤務先の名称", "max_length": 100,
             "show_if": {"field": "working", "equals": True}},
            {"key": "work_days", "type": "number", "label": "1週間の勤務日数", "min": 1, "max": 7, "unit": "日",
             "show_if": {"field": "working", "equals": True}},
            {"key": "work_hours", "type": "text", "label": "勤務時間", "max_length": 100,
             "show_if": {"field": "working", "equals": True}},
            {"key": "certificate", "type": "file", "label": "就労証明書", "accept": ["pdf", "jpeg"], "max_files": 3},
        ]},
        {"key": "wishes", "title": "利用の希望", "fields": [
            {"key": "period", "type": "choice", "label": "利用期間", "required": True, "choices": [
                {"value": "year", "label": "通年"}, {"value": "summer", "label": "夏休みのみ"}]},
            {"key": "needs", "type": "multichoice", "label": "希望する支援", "choices": [
                {"value": "late", "label": "延長保育"}, {"value": "meal", "label": "給食"},
                {"value": "ride", "label": "送迎"}, {"value": "allergy", "label": "アレルギー対応"}]},
            {"key": "siblings", "type": "number", "label": "同時に申し込む兄弟姉妹の数", "min": 0, "max": 5},
            {"key": "memo", "type": "textarea", "label": "配慮してほしいこと", "max_length": 1000},
            {"key": "consent", "type": "consent", "label": "申請内容に誤りがないことを確認しました", "required": True},
        ]},
    ],
}

# Common family names (with 髙橋 and 山﨑: outside JIS X 0208, inside CP932's IBM extension,
# so the CP932 export must carry them and its check pass must let them through).
FAMILY = [("佐藤", "サトウ"), ("鈴木", "スズキ"), ("高橋", "タカハシ"), ("田中", "タナカ"), ("伊藤", "イトウ"),
          ("渡辺", "ワタナベ"), ("山本", "ヤマモト"), ("中村", "ナカムラ"), ("小林", "コバヤシ"), ("加藤", "カトウ"),
          ("髙橋", "タカハシ"), ("山﨑", "ヤマサキ"), ("吉田", "ヨシダ"), ("遠藤", "エンドウ"), ("齋藤", "サイトウ")]
GIVEN = [("翔太", "ショウタ"), ("美咲", "ミサキ"), ("大輔", "ダイスケ"), ("陽子", "ヨウコ"), ("健一", "ケンイチ"),
         ("結衣", "ユイ"), ("蓮", "レン"), ("葵", "アオイ"), ("湊", "ミナト"), ("陽菜", "ヒナ")]
TOWNS = [("963-8601", "朝日"), ("963-8002", "駅前"), ("963-8005", "清水台"), ("963-8025", "桑野"),
         ("963-0201", "大槻町"), ("963-8034", "島")]
SCHOOLS = ["郡山市立金透小学校", "郡山市立芳山小学校", "郡山市立桑野小学校", "郡山市立大槻小学校", "郡山市立橘小学校"]
EMPLOYERS = ["株式会社あさひ商事", "郡山総合病院", "福島県庁", "有限会社さくら運送", "郡山市役所", "ケアセンターひまわり"]
MEMOS = ["", "", "", "食物アレルギー（卵）があります。", "帰りは祖母が迎えに行きます。\n水曜日は18時まで。",
         "発達の相談をしています。\r\n学校と連携をお願いします。", "兄と同じクラブを希望します。"]
STATUS_WEIGHTS = [("received", 20), ("under_review", 25), ("returned", 4), ("resubmitted", 3),
                  ("approved", 10), ("rejected", 2), ("completed", 34), ("withdrawn", 2)]


# --- database and Django ------------------------------------------------------------------


# --- generated data ------------------------------------------------------------------------


def _answers(rng: random.Random, i: int) -> dict:
    family, family_kana = rng.choice(FAMILY)
    given, given_kana = rng.choice(GIVEN)
    postal, town = rng.choice(TOWNS)
    working = rng.random() < 0.85
    children = []
    for _ in range(rng.choices([1, 2, 3], [70, 25, 5])[0]):
        child, child_kana = rng.choice(GIVEN)
        children.append({
            "child_name": {"family": family, "given": child, "family_kana": family_kana, "given_kana": child_kana},
            "birth_date": dt.date(2013 + rng.randrange(6), 1 + rng.randrange(12), 1 + rng.randrange(28)).isoformat(),
            "school": rng.choice(SCHOOLS), "grade": str(1 + rng.randrange(6)),
        })
    answers = {
        "guardian_name": {"family": family, "given": given, "family_kana": family_kana, "given_kana": given_kana},
        "relationship": rng.choice(["father", "mother", "mother", "grandparent", "other"]),
        "birth_date": dt.date(1975 + rng.randrange(20), 1 + rng.randrange(12), 1 + rng.randrange(28)).isoformat(),
        "address": {"postal_code": postal, "prefecture": "福島県", "city": "郡山市", "town": town,
                    "street": f"{1 + rng.randrange(9)}-{1 + rng.randrange(30)}-{1 + rng.randrange(12)}",
                    "building": "" if rng.random() < 0.7 else f"コーポ桜{100 + rng.randrange(300)}"},
        "phone": rng.choice(["090", "080", "070"]) + f"{rng.randrange(10**8):08d}",
        "email": f"resident{i}@example.jp",
        "children": children,
        "working": working,
    }
    if working:
        answers.update({"employer": rng.choice(EMPLOYERS), "work_days": rng.choice([3, 4, 5, 5, 5, 6]),
                        "work_hours": rng.choice(["9:00～17:00", "8:30～17:15", "10:00～19:00"])})
    if rng.random() < 0.33:
        answers["certificate"] = [f"bench-token-{i}"]
    answers["period"] = rng.choice(["year", "year", "summer"])
    needs = [v for v in ("late", "meal", "ride", "allergy") if rng.random() < 0.3]
    if needs:
        answers["needs"] = needs
    answers.update({"siblings": rng.choice([0, 0, 0, 1, 2]), "consent": True})
    memo = rng.choice(MEMOS)
    if memo:
        answers["memo"] = memo
    return answers


def _summary(schema, answers: dict) -> list[dict]:
    from tenohira.forms.engine import display

    rows = []
    for step in schema.steps:
        items = []
        for fld in step.fields:
            if fld.key not in answers:
                continue
            if fld.type == "group":
                for n, row in enumerate(answers[fld.key], start=1):
                    items += [{"label": f"{fld.option('row_label')}{n} {c.label}", "value": display(c, row[c.key])}
                              for c in fld.children if c.key in row]
            else:
                items.append({"label": fld.label, "value": display(fld, answers[fld.key])})
        rows.append({"title": step.title, "items": items})
    return rows


def check_shapes(version, rng: random.Random) -> None:
    """Generated answers must be what the engine itself stores: run a sample back through
    FormRun (raw inputs rebuilt with each field type's to_raw) and compare."""
    from tenohira.forms.engine import FormRun
    from tenohira.forms.fields import FIELD_TYPES

    schema = version.parsed()
    for i in range(50):
        answers = _answers(rng, i)
        answers.pop("certificate", None)  # file tokens must belong to a draft: not replayable here
        raw = {}
        for step in schema.steps:
            raw[step.key] = {}
            for fld in step.fields:
                if fld.key in answers:
                    raw[step.key].update(FIELD_TYPES[fld.type].to_raw(fld, answers[fld.key], fld.key))
        run = FormRun(schema, raw)
        problems = {k: p.message for o in run.outcomes.values() for k, p in o.problems.items()}
        if problems or run.answers != answers:
            diff = {k: (answers.get(k), run.answers.get(k)) for k in set(answers) | set(run.answers)
                    if answers.get(k) != run.answers.get(k)}
            sys.exit(f"generated answers differ from what the engine stores: {problems or diff}")


def build(rows: int, seed: int) -> dict:
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.utils import timezone
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from tenohira.applications.models import Attachment, Submission
    from tenohira.backoffice.models import Role, StaffRole
    from tenohira.catalog.models import Department, Procedure, Section
    from tenohira.core.fiscal import fiscal_year, local
    from tenohira.core.text import normalize
    from tenohira.forms.services import publish

    call_command("migrate", verbosity=0)
    rng = random.Random(seed)
    department = Department.objects.create(name="こども部")
    sections = [Section.objects.create(department=department, name=n, order=k) for k, n in
                enumerate(["こども育成課", "保育課", "こども家庭課", "子育て支援課"][: 1 + EXTRA_SECTIONS])]
    versions = []
    for k, section in enumerate(sections):
        procedure = Procedure.objects.create(code=f"HK{chr(65 + k)}", section=section,
                                             name=f"放課後児童クラブ入所申請（{section.name}）", processing_days=14)
        versions.append(publish(procedure, FORM)[0])
    check_shapes(versions[0], random.Random(seed + 1))
    user = get_user_model().objects.create_user(USERNAME, password=None, last_name="ベンチ", first_name="担当")
    TOTPDevice.objects.create(user=user, name="bench", confirmed=True)
    StaffRole.objects.create(user=user, role=Role.HANDLER, section=sections[0])

    schema = versions[0].parsed()
    weights = [w for _, w in STATUS_WEIGHTS]
    statuses = [s for s, _ in STATUS_WEIGHTS]
    now = timezone.now()
    plan = [(0, rows)] + [(k, rows // 10 // EXTRA_SECTIONS) for k in range(1, 1 + EXTRA_SECTIONS)]
    total = sum(n for _, n in plan)
    started = time.perf_counter()
    sequence = {}
    made = 0
    for k, count in plan:
        version, section = versions[k], sections[k]
        procedure = version.definition.procedure
        for start in range(0, count, BATCH):
            batch, files = [], []
            for i in range(start, min(count, start + BATCH)):
                index = made + i
                answers = _answers(rng, index)
                # Spread over the last year, mostly in the day and evening (Japan time).
                moment = now - dt.timedelta(days=rng.random() * 365)
                moment = moment.replace(hour=rng.randrange(14), minute=rng.randrange(60))  # 9:00-22:59 JST
                if moment > now:
                    moment -= dt.timedelta(days=1)
                fy = fiscal_year(moment)
                sequence[(procedure.code, fy)] = sequence.get((procedure.code, fy), 0) + 1
                name = answers["guardian_name"]
                full = f"{name['family']} {name['given']}"
                status = rng.choices(statuses, weights)[0]
                batch.append(Submission(
                    receipt_number=f"{fy}-{procedure.code}-{sequence[(procedure.code, fy)]:06d}",
                    procedure=procedure, section=section, form_version=version, answers=answers,
                    summary=_summary(schema, answers), channel="counter" if rng.random() < 0.1 else "online",
                    status=status, email=answers["email"],
                    status_secret_hash=hashlib.sha256(f"{seed}-{index}".encode()).hexdigest(),
                    submitted_at=moment, status_changed_at=moment,
                    due_date=local(moment).date() + dt.timedelta(days=14),
                    applicant_name=full,
                    applicant_search=f"{normalize(full)}|{normalize(name['family_kana'] + name['given_kana'])}",
                ))
                if "certificate" in answers:
                    files.append((index, answers["certificate"][0]))
            created = Submission.objects.bulk_create(batch, batch_size=1000)
            by_email = {s.email: s for s in created}
            Attachment.objects.bulk_create([
                Attachment(token=token, submission=by_email[f"resident{index}@example.jp"], field_path="certificate",
                           stored_name=f"bench/{token}", original_name=f"就労証明書_{index}.pdf",
                           content_type="application/pdf", size=120_000, sha256="0" * 64, scan="skipped")
                for index, token in files
            ], batch_size=1000)
            done = made + min(count, start + BATCH)
            if sys.stdout.isatty():
                print(f"\r  generated {done:,} / {total:,} submissions", end="", flush=True)
        made += count
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    elapsed = time.perf_counter() - started
    print(f"\r  generated {total:,} submissions in {elapsed:.1f} s ({total / elapsed:,.0f}/s): "
          f"{rows:,} in {sections[0].name}, {total - rows:,} in {EXTRA_SECTIONS} other sections")
    return {"section_id": sections[0].pk, "procedure": versions[0].definition.procedure.code}


# --- one export, in its own process --------------------------------------------------------


def _rss_mb() -> tuple[float, float]:
    """(current RSS, peak RSS) of this process in MB: VmRSS and VmHWM from /proc.

    Not getrusage's ru_maxrss on Linux: exec keeps the high-water mark of the image it
    replaces, which in a child of this bench is the parent's (the one that generated the
    data), so ru_maxrss would report the parent's memory, not the export's. VmHWM starts
    afresh with the new image. ru_maxrss is the fallback where /proc is missing."""
    current = peak = 0.0
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                current = int(line.split()[1]) / 1024
            elif line.startswith("VmHWM:"):
                peak = int(line.split()[1]) / 1024
    except OSError:
        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        peak = maxrss / 1024 / (1024 if sys.platform == "darwin" else 1)  # bytes on macOS, KB on Linux
    return current, peak


def signed_in_client():
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    user = get_user_model().objects.get(username=USERNAME)
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = TOTPDevice.objects.get(user=user).persistent_id
    session.save()
    return client, user


def child(args) -> None:
    """Export once through POST /staff/export/ and print one JSON line of figures."""
    setup_django(args.data_dir, args.db_url)
    from django.utils import timezone

    from tenohira.applications.models import Submission
    from tenohira.backoffice import selectors

    client, user = signed_in_client()
    filters = {"section": str(args.section_id), "status": "all", "format": args.child}
    if args.limit:
        # About `limit` rows: from the day of the limit-th newest submission on (a date filter,
        # as a clerk would set it on the page).
        newest = selectors.queue(user, section_id=args.section_id).values_list("submitted_at", flat=True)
        filters["date_from"] = timezone.localtime(newest[args.limit - 1]).date().isoformat()
    expected = selectors.queue(user, section_id=args.section_id, date_from=(
        dt.date.fromisoformat(filters["date_from"]) if "date_from" in filters else None)).count()
    Submission.objects.exists()  # open the connection before measuring
    rss_before, _ = _rss_mb()
    started = time.perf_counter()
    response = client.post("/staff/export/", filters)
    first_byte = None
    size = 0
    for piece in response.streaming_content if response.streaming else [response.content]:
        if first_byte is None:
            first_byte = time.perf_counter() - started
        size += len(piece)
    response.close()
    elapsed = time.perf_counter() - started
    _, peak = _rss_mb()
    print(json.dumps({
        "format": args.child, "status": response.status_code, "rows": expected, "seconds": elapsed,
        "first_byte": first_byte or elapsed, "bytes": size, "rss_before_mb": rss_before, "peak_mb": peak,
    }))


def run_child(fmt: str, limit: int, ctx: dict, args) -> dict:
    command = [sys.executable, __file__, "--child", fmt, "--limit", str(limit), "--db-url", args.db_url,
               "--data-dir", ctx["data_dir"], "--section-id", str(ctx["section_id"])]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"export {fmt} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- the queue's first page ----------------------------------------------------------------


def _median_ms(fn, repeat: int) -> tuple[float, float]:
    for _ in range(3):
        fn()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.95))]


def queue_figures(section_id: int, repeat: int) -> list[tuple[str, float, float]]:
    from tenohira.backoffice import selectors

    client, user = signed_in_client()
    cap = 10_000  # backoffice.views.COUNT_CAP: the page shows "10,000件以上" beyond it

    def first_page(**filters):
        items = selectors.queue(user, section_id=section_id, **filters)
        rows = list(items[:50])
        count = items.order_by()[: cap + 1].count()
        return rows, count

    def page(path):
        response = client.get(path)
        assert response.status_code == 200, response.status_code  # a broken page gives no figure
        return response

    return [
        ("queue first page: 50 rows + capped count (status open)", *_median_ms(lambda: first_page(status="open"), repeat)),
        ("queue first page: 50 rows + capped count (all statuses)", *_median_ms(lambda: first_page(), repeat)),
        ("queue first page: overdue only", *_median_ms(lambda: first_page(status="open", overdue=True), repeat)),
        ("queue search by name (たかはし)", *_median_ms(lambda: first_page(status=None, text="たかはし"), repeat)),
        ("GET /staff/ (whole page, HTTP through Django)", *_median_ms(lambda: page(f"/staff/?section={section_id}"), repeat)),
    ]


# --- main ------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db-url", default=DEFAULT_DB_URL, help=f"PostgreSQL (created and dropped; default {DEFAULT_DB_URL})")
    parser.add_argument("--rows", type=int, default=100_000, help="submissions of the exported section (default 100,000)")
    parser.add_argument("--small", type=int, default=10_000, help="the smaller export, to compare memory (default 10,000)")
    parser.add_argument("--repeat", type=int, default=20, help="timed runs of each queue measurement")
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--child", choices=FORMATS, help=argparse.SUPPRESS)
    parser.add_argument("--limit", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", help=argparse.SUPPRESS)
    parser.add_argument("--section-id", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return

    print(f"export bench: {args.rows:,} submissions, exports at {args.rows:,} and ~{args.small:,} rows")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    drop = create_database(args.db_url)
    try:
        with tempfile.TemporaryDirectory(prefix="tenohira-export-bench-") as data_dir:
            setup_django(data_dir, args.db_url)
            ctx = {"data_dir": data_dir, **build(args.rows, args.seed)}
            results = []
            print()
            print(f"{'format':<10} {'rows':>8} {'seconds':>8} {'rows/s':>8} {'1st byte':>9} {'MB out':>7} "
                  f"{'RSS before':>11} {'peak RSS':>9}")
            for fmt in FORMATS:
                for limit in (0, args.small):
                    r = run_child(fmt, limit, ctx, args)
                    results.append(r)
                    if r["status"] != 200:
                        print(f"{fmt:<10} export answered HTTP {r['status']}")
                        continue
                    print(f"{fmt:<10} {r['rows']:>8,} {r['seconds']:>8.2f} {r['rows'] / r['seconds']:>8,.0f} "
                          f"{r['first_byte']:>8.2f}s {r['bytes'] / 1e6:>7.1f} {r['rss_before_mb']:>9.1f}MB "
                          f"{r['peak_mb']:>7.1f}MB")
            for fmt in FORMATS:
                big, small = (r for r in results if r["format"] == fmt)
                print(f"  {fmt}: peak RSS at {big['rows']:,} rows / at {small['rows']:,} rows = "
                      f"{big['peak_mb'] / small['peak_mb']:.2f} (rows ×{big['rows'] / max(1, small['rows']):.1f})")
            print()
            print(f"queue of {args.rows:,} submissions (section {ctx['section_id']}), median / p95 of {args.repeat} runs:")
            for label, median, p95 in queue_figures(ctx["section_id"], args.repeat):
                print(f"  {label:<58} {median:>7.1f} ms  p95 {p95:>7.1f} ms")
            peak = max(r["peak_mb"] for r in results)
            ok = all(r["status"] == 200 for r in results) and peak < TARGET_RSS_MB
            print()
            print(f"largest peak RSS of any export: {peak:.1f} MB")
            print(f"peak RSS < {TARGET_RSS_MB} MB: {'PASS' if ok else 'FAIL'}")
    finally:
        if args.keep:
            print(f"kept database {args.db_url}")
        else:
            from django.db import connections

            connections.close_all()
            drop()


if __name__ == "__main__":
    main()
