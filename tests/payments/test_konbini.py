"""The convenience-store / Pay-easy provider at its boundary: the collection agent's JSON API
answered by recorded responses (data/konbini_*.json) through a stubbed HTTP layer, and its
settlement file (CP932 CSV) read line by line; no network."""

import datetime as dt
import json
import logging
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests
import responses
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from tenohira.payments.contrib import konbini as konbini_module
from tenohira.payments.contrib.konbini import KonbiniProvider, SettlementFileError
from tenohira.payments.models import Payment
from tenohira.payments.registry import InvalidWebhook, ProviderError, register

DATA = Path(__file__).parent / "data"
BASE = "https://agent.example.jp/api/v1"
KEY = "pay-1b2c3d4e5f60718293a4b5c6d7e8f901"  # order_id in the recordings
TOKYO = ZoneInfo("Asia/Tokyo")
HEADER = "収納日,店舗/収納機関,お客様番号,取引ID,金額,手数料,入金予定日"


def recorded(name: str) -> dict:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


@pytest.fixture(autouse=True)
def konbini_settings(settings):
    settings.PAYMENTS_KONBINI_API_BASE = BASE + "/"
    settings.PAYMENTS_KONBINI_API_KEY = "agent_key_not_real"
    return settings


@pytest.fixture
def api():
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


@pytest.fixture
def provider():
    return KonbiniProvider()


def payment(**kwargs) -> Payment:
    values = {"provider": "konbini", "amount": 2500, "currency": "JPY", "idempotency_key": KEY,
              "provider_ref": "KB2025040100012345",
              "expires_at": dt.datetime(2025, 4, 15, 23, 59, 59, tzinfo=TOKYO)}
    values.update(kwargs)
    return Payment(**values)


def test_registered_with_its_label():
    konbini = register.get("konbini")
    assert isinstance(konbini, KonbiniProvider)
    assert konbini.label == "コンビニ・ペイジー払い" and konbini.online


# -- create_checkout: numbers, no redirect --------------------------------------------------

def test_checkout_gives_numbers_and_the_expiry_not_a_page(api, provider):
    api.post(f"{BASE}/payments", json=recorded("konbini_create.json"), status=201)
    checkout = provider.create_checkout(payment(provider_ref=""), return_url="https://x.example/r", cancel_url="")

    assert checkout.redirect_url == ""
    assert checkout.provider_ref == "KB2025040100012345"  # 取引ID: names it in the settlement file
    assert checkout.payment_number == "20250401123456"      # お客様番号
    assert checkout.payment_extra == {"確認番号": "4821", "収納機関番号": "58091"}
    assert checkout.expires_at == dt.datetime(2025, 4, 15, 23, 59, 59, tzinfo=TOKYO)

    request = api.calls[0].request
    assert json.loads(request.body) == {"order_id": KEY, "amount": 2500, "expires_at": "2025-04-15T23:59:59+09:00"}
    assert request.headers["Authorization"] == "Bearer agent_key_not_real"
    assert request.headers["Idempotency-Key"] == KEY  # a retried create gets the same numbers
    connect, read = request.req_kwargs["timeout"]
    assert 0 < connect <= 10 and 0 < read <= 30


def test_checkout_without_an_expiry_asks_for_the_default_days(api, provider):
    api.post(f"{BASE}/payments", json=recorded("konbini_create.json"), status=201)
    provider.create_checkout(payment(expires_at=None), return_url="", cancel_url="")
    sent = dt.datetime.fromisoformat(json.loads(api.calls[0].request.body)["expires_at"])
    days = (sent - dt.datetime.now(dt.UTC)).total_seconds() / 86400
    assert konbini_module.DEFAULT_EXPIRY_DAYS - 1 < days <= konbini_module.DEFAULT_EXPIRY_DAYS


@pytest.mark.parametrize("amount", [0, 300_000, 1_000_000])
def test_amounts_stores_cannot_take_are_refused_before_any_call(api, provider, amount):
    with pytest.raises(ProviderError, match="299,999円") as caught:
        provider.create_checkout(payment(amount=amount), return_url="", cancel_url="")
    assert not caught.value.retry
    assert len(api.calls) == 0


def test_numbers_for_another_amount_are_never_shown(api, provider):
    answer = recorded("konbini_create.json")
    answer["amount"] = 250
    api.post(f"{BASE}/payments", json=answer, status=201)
    with pytest.raises(ProviderError, match="金額"):
        provider.create_checkout(payment(), return_url="", cancel_url="")


def test_an_answer_without_numbers_may_be_retried(api, provider):
    answer = recorded("konbini_create.json")
    del answer["customer_number"]
    api.post(f"{BASE}/payments", json=answer, status=201)
    with pytest.raises(ProviderError) as caught:
        provider.create_checkout(payment(), return_url="", cancel_url="")
    assert caught.value.retry


def test_without_settings_no_call_is_made(api, provider, konbini_settings):
    konbini_settings.PAYMENTS_KONBINI_API_KEY = ""
    with pytest.raises(ProviderError, match="設定"):
        provider.create_checkout(payment(), return_url="", cancel_url="")


@pytest.mark.parametrize(("status", "retry"), [(500, True), (503, True), (429, True), (400, False), (401, False)])
def test_agent_errors(api, provider, status, retry):
    api.post(f"{BASE}/payments", json=recorded("konbini_error_invalid.json"), status=status)
    with pytest.raises(ProviderError, match="収納代行") as caught:
        provider.create_checkout(payment(), return_url="", cancel_url="")
    assert caught.value.retry is retry


@pytest.mark.parametrize("failure", [
    requests.exceptions.ReadTimeout("slow"),
    requests.exceptions.ConnectTimeout("no route"),
    requests.exceptions.ConnectionError("refused"),
])
def test_timeouts_may_be_retried(api, provider, failure):
    api.post(f"{BASE}/payments", body=failure)
    with pytest.raises(ProviderError) as caught:
        provider.create_checkout(payment(), return_url="", cancel_url="")
    assert caught.value.retry


def test_no_key_in_the_logs(api, provider, caplog):
    caplog.set_level(logging.DEBUG)
    api.post(f"{BASE}/payments", json=recorded("konbini_error_invalid.json"), status=400)
    with pytest.raises(ProviderError):
        provider.create_checkout(payment(), return_url="", cancel_url="")
    assert "agent_key_not_real" not in caplog.text


# -- retrieve, cancel, refund ------------------------------------------------------------------

@pytest.mark.parametrize(("agent_status", "state"), [
    ("waiting", "awaiting"), ("paid", "captured"), ("cancelled", "cancelled"), ("expired", "expired"),
])
def test_retrieve_maps_each_status(api, provider, agent_status, state):
    answer = recorded("konbini_status_paid.json")
    answer["status"] = agent_status
    api.get(f"{BASE}/payments/{KEY}", json=answer)
    snapshot = provider.retrieve(payment())
    assert snapshot.state == state
    assert snapshot.provider_ref == "KB2025040100012345"
    assert (snapshot.paid_at is not None) == (state == "captured")
    assert bool(snapshot.failure_reason) == (state in {"cancelled", "expired"})


def test_retrieve_paid_at_a_store_and_by_pay_easy(api, provider):
    api.get(f"{BASE}/payments/{KEY}", json=recorded("konbini_status_paid.json"))
    snapshot = provider.retrieve(payment())
    assert snapshot.amount == Decimal(2500) and snapshot.currency == "JPY"
    assert snapshot.method == "konbini"
    assert snapshot.paid_at == dt.datetime(2025, 4, 3, 18, 22, 5, tzinfo=TOKYO)

    api.get(f"{BASE}/payments/{KEY}", json=recorded("konbini_status_paid_payeasy.json"))
    assert provider.retrieve(payment()).method == "payeasy"


def test_retrieve_waiting(api, provider):
    api.get(f"{BASE}/payments/{KEY}", json=recorded("konbini_status_waiting.json"))
    snapshot = provider.retrieve(payment())
    assert snapshot.state == "awaiting" and snapshot.paid_at is None


def test_retrieve_unknown_status_or_broken_answer_moves_nothing(api, provider):
    answer = recorded("konbini_status_waiting.json")
    answer["status"] = "half_paid"
    api.get(f"{BASE}/payments/{KEY}", json=answer)
    with pytest.raises(ProviderError):
        provider.retrieve(payment())
    api.get(f"{BASE}/payments/{KEY}", body="<html>maintenance</html>", status=200)
    with pytest.raises(ProviderError) as caught:
        provider.retrieve(payment())
    assert caught.value.retry


def test_retrieve_timeout_may_be_retried(api, provider):
    api.get(f"{BASE}/payments/{KEY}", body=requests.exceptions.ReadTimeout("slow"))
    with pytest.raises(ProviderError) as caught:
        provider.retrieve(payment())
    assert caught.value.retry


def test_cancel(api, provider):
    api.post(f"{BASE}/payments/{KEY}/cancel", json={"order_id": KEY, "status": "cancelled"})
    provider.cancel(payment())
    assert api.calls[0].request.headers["Idempotency-Key"] == f"cancel-{KEY}"


def test_cancel_of_numbers_already_paid_is_refused(api, provider):
    api.post(f"{BASE}/payments/{KEY}/cancel", json=recorded("konbini_error_already_paid.json"), status=409)
    with pytest.raises(ProviderError, match="既に支払われて") as caught:
        provider.cancel(payment())
    assert not caught.value.retry


def test_cancel_of_numbers_never_issued_or_already_dead_is_fine(api, provider):
    api.post(f"{BASE}/payments/{KEY}/cancel", json={"error": {"code": "not_found"}}, status=404)
    provider.cancel(payment())
    api.post(f"{BASE}/payments/{KEY}/cancel", json={"error": {"code": "already_expired"}}, status=409)
    provider.cancel(payment())


def test_refund_is_by_bank_transfer_not_through_the_agent(api, provider):
    with pytest.raises(ProviderError, match="口座振込") as caught:
        provider.refund(payment(), Decimal(2500), idempotency_key="refund-1")
    assert not caught.value.retry
    assert len(api.calls) == 0


def test_no_webhooks(provider):
    with pytest.raises(InvalidWebhook):
        provider.parse_webhook(b"{}", {})


# -- the settlement file -----------------------------------------------------------------------

def test_settlement_file_in_cp932(provider):
    lines = provider.parse_settlement((DATA / "konbini_settlement.csv").read_bytes())
    assert [line.line_number for line in lines] == [2, 3, 4, 5]
    first = lines[0]
    assert first.transaction_id == "KB2025040100012345"
    assert first.amount == Decimal(2500) and first.fee == Decimal(66)
    assert first.settled_on == dt.date(2025, 4, 10)  # 入金予定日: when the money reaches the city
    assert first.raw == {"収納日": "2025-04-03", "店舗/収納機関": "セブン-イレブン", "お客様番号": "20250401123456"}
    assert lines[2].amount == Decimal(1200)  # "1,200", quoted
    assert lines[3].raw["店舗/収納機関"] == "ペイジー（ゆうちょ銀行）"


def test_every_bad_line_is_named(provider):
    with pytest.raises(SettlementFileError) as caught:
        provider.parse_settlement((DATA / "konbini_settlement_bad.csv").read_bytes())
    errors = caught.value.errors
    assert [error.split("行目")[0] for error in errors] == ["3", "4", "5", "6", "7"]
    assert "収納日「2025/13/03」が日付ではありません" in errors[0]
    assert "取引IDがありません" in errors[1]
    assert "金額「六百」" in errors[2]
    assert "列の数が6です" in errors[3]
    assert "手数料が金額より大きく" in errors[4] and "入金予定日が収納日より前" in errors[4]
    assert str(caught.value).startswith("入金明細を読み込めませんでした。\n3行目:")
    assert not caught.value.retry


def test_empty_rows_as_spreadsheets_save_them_are_skipped(provider):
    data = "\r\n".join([HEADER, "2025/04/03,ローソン,1,A1,600,66,2025/04/10", ",,,,,,", "", ",,,,,,"]).encode("cp932")
    assert [line.transaction_id for line in provider.parse_settlement(data)] == ["A1"]


def test_full_width_digits_are_not_yen(provider):
    data = "\r\n".join([HEADER, "2025/04/03,ローソン,1,A1,６００,66,2025/04/10"]).encode("cp932")
    with pytest.raises(SettlementFileError, match="2行目: 金額「６００」"):
        provider.parse_settlement(data)


def test_dates_in_the_agents_usual_forms(provider):
    data = "\r\n".join([
        HEADER,
        "2025-04-03,ローソン,1,A1,600,66,20250410",
        "2025/4/3,ローソン,2,A2,600,66,2025/4/10",
        "2025/04-03,ローソン,3,A3,600,66,2025/04/10",
    ]).encode("cp932")
    with pytest.raises(SettlementFileError) as caught:
        provider.parse_settlement(data)
    assert caught.value.errors == ["4行目: 収納日「2025/04-03」が日付ではありません。"]


def test_not_cp932_is_refused_with_its_line(provider):
    data = (HEADER + "\r\n2025/04/03,ローソン,1,A1,600,66,2025/04/10\r\n").encode("cp932") + \
        "2025/04/03,ロ\u30fcソン,2,A2,600,66,2025/04/10\r\n".encode("cp932") + b"2025/04/03,\x82\xff,3,A3,600,66,2025/04/10\r\n"
    with pytest.raises(SettlementFileError) as caught:
        provider.parse_settlement(data)
    assert caught.value.errors == ["4行目: CP932（Shift_JIS）として読めない文字があります。"]


def test_utf8_is_refused(provider):
    data = ("\ufeff" + HEADER + "\n").encode("utf-8")
    with pytest.raises(SettlementFileError, match="UTF-8"):
        provider.parse_settlement(data)


def test_wrong_header_or_empty_file(provider):
    with pytest.raises(SettlementFileError, match="1行目: 見出し"):
        provider.parse_settlement("取引ID,金額\r\nA1,600\r\n".encode("cp932"))
    with pytest.raises(SettlementFileError, match="空"):
        provider.parse_settlement(b"")


def test_bounds_are_checked_before_decoding(provider, monkeypatch):
    monkeypatch.setattr(konbini_module, "MAX_SETTLEMENT_BYTES", 1000)
    with pytest.raises(SettlementFileError, match="大きすぎます"):
        provider.parse_settlement(b"\xff" * 1001)  # not CP932 either: the size is what is reported

    monkeypatch.setattr(konbini_module, "MAX_SETTLEMENT_LINES", 3)
    lines = [HEADER] + [f"2025/04/03,ローソン,{n},A{n},600,66,2025/04/10" for n in range(4)]
    data = "\r\n".join(lines).encode("cp932")
    with pytest.raises(SettlementFileError, match="行が多すぎます"):
        provider.parse_settlement(data)
    assert len(provider.parse_settlement("\r\n".join(lines[:4]).encode("cp932"))) == 3


def test_the_real_bounds():
    assert konbini_module.MAX_SETTLEMENT_BYTES == 20 * 1024 * 1024
    assert konbini_module.MAX_SETTLEMENT_LINES == 200_000


def test_a_long_list_of_errors_is_shortened_in_the_message_but_kept_whole(provider):
    lines = [HEADER] + [f"x,ローソン,{n},A{n},600,66,2025/04/10" for n in range(50)]
    with pytest.raises(SettlementFileError) as caught:
        provider.parse_settlement("\n".join(lines).encode("cp932"))
    assert len(caught.value.errors) == 50
    assert str(caught.value).endswith("ほか 30 件")


def test_a_settlement_file_of_200000_lines_is_read(provider):
    lines = [HEADER] + [f"2025/04/03,ローソン,{n},KB{n:012d},600,66,2025/04/10" for n in range(200_000)]
    data = ("\r\n".join(lines) + "\r\n").encode("cp932")
    parsed = provider.parse_settlement(data)
    assert len(parsed) == 200_000 and parsed[-1].line_number == 200_001


# -- through the payments core: numbers issued, paid at a store, reconciled by the file ---------

@pytest.mark.django_db
def test_a_store_payment_from_numbers_to_reconciliation(api, submit, fee_form, fee_item):
    from tenohira.payments import reconcile, services
    from tenohira.payments.models import Assessment, FeeSetting

    FeeSetting.objects.create(procedure=fee_form.definition.procedure, timing="at_submission",
                              fee_item=fee_item, providers=["konbini"])
    assessment = Assessment.objects.get(submission=submit())
    assert assessment.amount_due == 600

    created = recorded("konbini_create.json")
    created["amount"] = 600
    api.post(f"{BASE}/payments", json=created, status=201)
    payment = services.start_payment(assessment.token, "konbini")
    assert payment.state == "awaiting"
    payment.refresh_from_db()
    assert payment.provider_ref == "KB2025040100012345"
    assert payment.payment_number == "20250401123456"
    assert payment.payment_extra == {"確認番号": "4821", "収納機関番号": "58091"}
    assert json.loads(api.calls[0].request.body)["order_id"] == payment.idempotency_key

    paid = recorded("konbini_status_paid.json")
    paid["amount"] = 600
    api.get(f"{BASE}/payments/{payment.idempotency_key}", json=paid)
    services.refresh_payment(payment, source="poll")
    payment.refresh_from_db()
    assessment.refresh_from_db()
    assert payment.state == "captured" and payment.method == "konbini"
    assert assessment.state == "paid"

    data = "\r\n".join([
        HEADER, "2025/04/03,セブン-イレブン,20250401123456,KB2025040100012345,600,66,2025/04/10", "",
    ]).encode("cp932")
    result = reconcile.import_settlement(data, provider="konbini", file_name="nyukin_20250410.csv")
    assert result.matched == 1
    payment.refresh_from_db()
    assessment.refresh_from_db()
    assert payment.state == "reconciled" and payment.provider_fee == 66
    assert payment.settled_on == dt.date(2025, 4, 10)
    assert assessment.state == "reconciled"


@pytest.mark.django_db
def test_a_bad_settlement_file_is_refused_through_the_core_with_every_line(fee_item):
    from tenohira.payments import reconcile

    with pytest.raises(reconcile.SettlementRefused) as caught:
        reconcile.import_settlement((DATA / "konbini_settlement_bad.csv").read_bytes(), provider="konbini",
                                    file_name="bad.csv")
    assert [problem.split("行目")[0] for problem in caught.value.problems] == ["3", "4", "5", "6", "7"]


# -- any bytes at all: a list of lines or a refusal, never a crash -------------------------------

_cells = st.one_of(st.text(max_size=12), st.sampled_from(["2025/04/03", "600", "66", "KB1", "1,200", ""]))


@hypothesis_settings(max_examples=200, deadline=None)
@given(st.one_of(
    st.binary(max_size=300),
    st.lists(st.lists(_cells, min_size=0, max_size=9), max_size=6).map(
        lambda rows: "\r\n".join([HEADER] + [",".join(row) for row in rows]).encode("cp932", "replace")),
))
def test_any_file_is_read_or_refused_never_crashes(data):
    try:
        lines = KonbiniProvider().parse_settlement(data)
    except SettlementFileError as refused:
        assert refused.errors and all(isinstance(error, str) for error in refused.errors)
    else:
        for line in lines:
            assert line.amount >= 1 and 0 <= line.fee <= line.amount
            assert isinstance(line.settled_on, dt.date)
