"""/staff/accounting/: the 会計管理者's pages — who may open them, the settlement import with
its report, past imports, the 収納データ and 日計表 downloads; audited and no-store."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from tenohira.applications.models import Submission
from tenohira.audit.models import AuditRecord
from tenohira.backoffice.models import Role, StaffRole
from tenohira.core.fiscal import JST
from tenohira.payments.models import Assessment, FeeItem, Payment, SettlementImport
from tenohira.payments.registry import Provider, SettlementLine, register

pytestmark = pytest.mark.django_db


class PageTestProvider(Provider):
    name = "pagecard"
    label = "テスト用カード"

    def parse_settlement(self, data: bytes) -> list[SettlementLine]:
        lines, problems = [], []
        for number, row in enumerate(csv.reader(io.StringIO(data.decode("utf-8"))), start=1):
            if number == 1:
                continue
            try:
                lines.append(SettlementLine(number, row[0], Decimal(row[1]), Decimal(row[2]),
                                            dt.date.fromisoformat(row[3])))
            except (ValueError, IndexError, ArithmeticError):
                problems.append(f"{number}行目: 読み取れません。")
        if problems:
            raise ValueError("\n".join(problems))
        return lines


@pytest.fixture(autouse=True)
def provider():
    register.register(PageTestProvider)
    yield
    register._providers.pop("pagecard", None)


@pytest.fixture
def accountant(staff):
    from django.contrib.auth import get_user_model
    from django_otp.plugins.otp_totp.models import TOTPDevice

    user = get_user_model().objects.create_user("kaikei", last_name="会計", first_name="管理")
    TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
    StaffRole.objects.create(user=user, role=Role.ACCOUNTANT)
    return user


@pytest.fixture
def paid(staff, make_submission):
    submission: Submission = make_submission(family="秘匿", given="花子")
    item = FeeItem.objects.create(code="1401", name="住民票等交付手数料")
    payments = []
    for i in range(3):
        assessment = Assessment.objects.create(
            number=f"R8-{i + 1:06d}", submission=submission, procedure=staff.procedure, fee_item=item,
            timing="at_submission", amount_assessed=300, amount_due=300, state=Assessment.State.PAID,
        )
        payments.append(Payment.objects.create(
            assessment=assessment, provider="pagecard", method="card", provider_ref=f"pi_{i}",
            idempotency_key=f"k{i}", amount=300, state=Payment.State.CAPTURED,
            captured_at=timezone.now() - dt.timedelta(hours=1),
        ))
    return {"submission": submission, "payments": payments}


def today() -> str:
    return timezone.localtime(timezone.now(), JST).date().isoformat()


def settlement_file(*rows) -> SimpleUploadedFile:
    text = "transaction_id,amount,fee,settled_on\n" + "".join(",".join(map(str, r)) + "\n" for r in rows)
    return SimpleUploadedFile("settlement.csv", text.encode(), content_type="text/csv")


def test_only_accountants_and_dx_admins_open_the_pages(staff, accountant, staff_client):
    for user in (accountant, staff.dx_admin):
        response = staff_client(user).get("/staff/accounting/")
        assert response.status_code == 200
        assert "no-store" in response["Cache-Control"]
        assert "入金明細を取り込んで消込する" in response.content.decode()
    for user in (staff.handler, staff.approver, staff.section_admin, staff.auditor):
        assert staff_client(user).get("/staff/accounting/").status_code == 403
        assert staff_client(user).post("/staff/accounting/receipts/", {"date_from": today(),
                                                                        "date_to": today()}).status_code == 403


def test_the_header_links_to_the_pages_for_accountants_only(staff, accountant, staff_client):
    assert 'href="/staff/accounting/"' in staff_client(accountant).get("/staff/").content.decode()
    assert 'href="/staff/accounting/"' not in staff_client(staff.handler).get("/staff/").content.decode()


def test_upload_reconciles_and_shows_the_four_lists_with_line_numbers(paid, accountant, staff_client):
    client = staff_client(accountant)
    upload = settlement_file(("pi_0", 300, 10, today()), ("pi_9", 300, 10, today()), ("pi_0", 300, 10, today()),
                             ("pi_1", 999, 10, today()), ("pi_2", 300, 10, today()))
    response = client.post("/staff/accounting/", {"provider": "pagecard", "file": upload})
    record = SettlementImport.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/staff/accounting/imports/{record.pk}/"
    page = client.get(response["Location"])
    assert "no-store" in page["Cache-Control"]
    html = page.content.decode()
    assert "該当する支払いがない（1件）" in html and "重複（1件）" in html
    assert "金額・状態の不一致（1件）" in html and "入金の遅れ（0件）" in html
    assert "3行目" in html and "4行目" in html and "5行目" in html
    assert "秘匿" not in html  # the accountant sees transactions, never the applicant
    assert Payment.objects.filter(state=Payment.State.RECONCILED).count() == 2
    actions = list(AuditRecord.objects.values_list("action", flat=True))
    assert "settlement_import" in actions and "settlement_import_view" in actions
    listing = client.get("/staff/accounting/").content.decode()
    assert "settlement.csv" in listing and "該当する支払いがない 1件" in listing


def test_a_refused_file_keeps_the_choice_and_changes_nothing(paid, accountant, staff_client):
    client = staff_client(accountant)
    upload = settlement_file(("pi_0", "abc", 10, today()))
    response = client.post("/staff/accounting/", {"provider": "pagecard", "file": upload})
    assert response.status_code == 400
    html = response.content.decode()
    assert "取り込めませんでした" in html and "2行目: 読み取れません。" in html
    assert '<option value="pagecard" selected>' in html
    assert not SettlementImport.objects.exists()
    assert not Payment.objects.filter(state=Payment.State.RECONCILED).exists()
    # Nothing chosen: a clear message, not an error page.
    response = client.post("/staff/accounting/", {"provider": ""})
    assert response.status_code == 400 and "支払い方法を選んでください。" in response.content.decode()


def test_receipts_and_daily_downloads_audited(paid, accountant, staff_client):
    client = staff_client(accountant)
    response = client.post("/staff/accounting/receipts/", {"date_from": today(), "date_to": today()})
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    text = response.content.decode("cp932")
    assert text.startswith("調定番号,科目コード,科目名,金額") and text.count("\r\n") == 4
    for fmt, magic in (("pdf", b"%PDF"), ("xlsx", b"PK")):
        response = client.post("/staff/accounting/daily/", {"date": today(), "format": fmt})
        assert response.status_code == 200 and response.content.startswith(magic)
    actions = list(AuditRecord.objects.values_list("action", flat=True))
    assert actions.count("receipts_export") == 1 and actions.count("daily_report") == 2


def test_bad_dates_give_a_japanese_message_and_keep_what_was_typed(accountant, staff_client):
    client = staff_client(accountant)
    response = client.post("/staff/accounting/receipts/", {"date_from": "きのう", "date_to": today()})
    assert response.status_code == 400
    html = response.content.decode()
    assert "初日を日付" in html and 'value="きのう"' in html
    response = client.post("/staff/accounting/daily/", {"date": today(), "format": "docx"})
    assert response.status_code == 400 and "形式" in response.content.decode()


def test_an_unknown_import_is_404(accountant, staff_client):
    assert staff_client(accountant).get("/staff/accounting/imports/999/").status_code == 404
