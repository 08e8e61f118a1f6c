"""Form builder: saving a 200-field form and publishing it, through the real staff views.

One "save" is what a clerk's 保存 on a field page costs: the POST through
backoffice.views_forms.field (staff check, scoping selector, the builder operation on a
copy of the working copy, the row locked, the JSON stored, the audit record), answered
with its redirect. One "publish" is the 公開する POST: the builder's problems, the parser,
a new immutable version and its audit record. Both are measured on a form of 200 fields
(20 pages × 10 fields of every type, conditions and a fee) and, as the baseline of the same
run, on a form of one field. Targets: save < 300 ms, publish < 1 s.

    .venv/bin/python bench/builder_bench.py                 # a temporary SQLite database
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tenohira_bench_builder .venv/bin/python bench/builder_bench.py

A PostgreSQL database named by DATABASE_URL or --db-url is created and dropped (its name
must start with tenohira_bench).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

TARGET_SAVE_MS = 300
TARGET_PUBLISH_MS = 1000
TYPES = ["text", "number", "choice", "yesno", "date", "textarea", "multichoice", "email", "phone", "guidance"]


def big_schema(fields: int) -> dict:
    """`fields` fields, 10 a page, every few with a condition on an earlier yes/no, and a fee."""
    steps = []
    for page in range(max(1, fields // 10)):
        items = []
        for n in range(min(10, fields - page * 10)):
            key = f"p{page}_f{n}"
            ftype = TYPES[n % len(TYPES)]
            item = {"key": key, "type": ftype, "label": f"{page + 1}ページの質問{n + 1}"}
            if ftype in {"choice", "multichoice"}:
                item["choices"] = [{"value": f"c{i}", "label": f"選択肢{i}", "fee": 100 * i} for i in range(1, 6)]
            if ftype == "guidance":
                item = {"key": key, "type": "guidance", "text": "説明文です。"}
            if page and n in (1, 5):
                item["show_if"] = {"field": f"p{page - 1}_f3", "equals": True}
            items.append(item)
        steps.append({"key": f"page{page}", "title": f"{page + 1}ページ目", "fields": items})
    if fields >= 10:
        steps[-1]["fields"][-1] = {"key": "fee", "type": "computed", "label": "手数料", "format": "yen",
                                   "expression": {"mul": [{"field": "p0_f1"}, 300]}}
    return {"title": "ベンチマーク用フォーム", "steps": steps,
            "consent": {"label": "申請内容に誤りがないことを確認し、同意します"}}


def setup(db_url: str | None, workdir: Path):
    from _database import create_database, setup_django

    drop = None
    if db_url:
        drop = create_database(db_url)
    else:
        db_url = f"sqlite:///{workdir / 'bench.sqlite3'}"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    setup_django(str(workdir), db_url)
    from django.conf import settings
    from django.core.management import call_command

    settings.ALLOWED_HOSTS = ["*"]
    call_command("migrate", interactive=False, verbosity=0)
    return drop, db_url


def world():
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from tenohira.backoffice.models import Role, StaffRole
    from tenohira.catalog.models import Department, Procedure, Section

    department = Department.objects.create(name="市民部")
    section = Section.objects.create(department=department, name="市民課")
    user = get_user_model().objects.create_user("bench", password="x", last_name="計測", first_name="職員")  # noqa: S106
    device = TOTPDevice.objects.create(user=user, name="bench", confirmed=True)
    StaffRole.objects.create(user=user, role=Role.SECTION_ADMIN, section=section)
    client = Client()
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    big = Procedure.objects.create(code="BIG", section=section, name="200項目のフォーム")
    small = Procedure.objects.create(code="ONE", section=section, name="1項目のフォーム")
    return user, client, big, small


def measure(client, user, procedure, schema: dict, rounds: int) -> tuple[list[float], list[float]]:
    from tenohira.forms import services
    from tenohira.forms.models import FormDefinition

    definition = services.start_working_copy(procedure, schema, user=user)
    key = schema["steps"][0]["fields"][0]["key"]
    saves, publishes = [], []
    for n in range(rounds):
        definition = FormDefinition.objects.get(pk=definition.pk)
        data = {"revision": services.revision_of(definition), "action": "save", "label": f"質問（{n}回目）", "max_length": "100"}
        started = time.perf_counter()
        response = client.post(f"/staff/forms/{procedure.code}/fields/{key}/", data)
        saves.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 302, response.content[:500]
        definition = FormDefinition.objects.get(pk=definition.pk)
        started = time.perf_counter()
        response = client.post(f"/staff/forms/{procedure.code}/publish/", {"revision": services.revision_of(definition)})
        publishes.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 302, response.content[:2000]
    return saves, publishes


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db-url", default=os.environ.get("DATABASE_URL"), help="PostgreSQL (name tenohira_bench*)")
    parser.add_argument("--fields", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="tenohira-builder-bench-"))
    drop, db_url = setup(args.db_url, workdir)
    try:
        from tenohira.forms.builder import field_count

        user, client, big, small = world()
        schema = big_schema(args.fields)
        one = {"title": "1項目", "steps": [{"key": "only", "title": "1ページ", "fields": [
            {"key": "q1", "type": "text", "label": "質問"}]}]}
        measure(client, user, small, one, 3)  # warm-up (templates, parsers, connections)
        base_save, base_publish = measure(client, user, small, one, args.rounds)
        save, publish = measure(client, user, big, schema, args.rounds)
        engine = "PostgreSQL" if db_url.startswith("postgres") else "SQLite"
        print(f"builder_bench on {engine}: {field_count(schema)} fields in {len(schema['steps'])} pages, {args.rounds} rounds")
        for name, values, baseline, target in (("save", save, base_save, TARGET_SAVE_MS),
                                               ("publish", publish, base_publish, TARGET_PUBLISH_MS)):
            p50, p95 = statistics.median(values), pct(values, 0.95)
            ratio = p50 / statistics.median(baseline)
            verdict = "OK" if p95 < target else "FAIL"
            print(f"  {name:8s} p50 {p50:7.1f} ms  p95 {p95:7.1f} ms  (1-field form p50 {statistics.median(baseline):6.1f} ms, "
                  f"ratio {ratio:4.1f}×)  target < {target} ms: {verdict}")
    finally:
        if drop:
            from django.db import connections

            connections.close_all()
            drop()


if __name__ == "__main__":
    main()
