"""The demo survey (窓口サービスに関する市民アンケート) answered on a phone (390×844, ja-JP),
as `tenohira demo` publishes it: anonymous, 回答 wording, the 理由 question only after
「不満」, and a thank-you page without a receipt number; what is stored names no one."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.support.a11y import assert_accessible

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

SRC = Path(__file__).resolve().parents[2] / "src" / "tenohira"


@pytest.fixture
def demo_survey():
    from tenohira.catalog.models import Procedure
    from tenohira.catalog.services import import_catalog
    from tenohira.forms.models import FormDefinition
    from tenohira.forms.services import publish

    import_catalog(SRC / "catalog" / "demo" / "sample_city.csv")
    schema = json.loads((SRC / "forms" / "demo" / "ANK.json").read_text(encoding="utf-8"))
    publish(Procedure.objects.get(code="ANK"), schema)
    # The same line as the demo command's.
    FormDefinition.objects.filter(procedure__code="ANK").update(kind=FormDefinition.Kind.SURVEY, anonymous=True)


def test_answering_the_demo_survey_on_a_phone(live_server, phone, demo_survey):
    from tenohira.applications.models import Submission

    page = phone
    page.goto(f"{live_server.url}/procedures/ANK/apply/")
    expect(page.locator("#anonymous")).to_have_text("このアンケートは匿名です。お名前や連絡先は記録しません。")
    assert_accessible(page, "the survey's start page")
    page.get_by_role("button", name="回答する").click()

    page.get_by_label("40歳代").check()
    page.get_by_label("証明書の取得").check()
    page.get_by_label("その他").check()
    page.get_by_role("button", name="次へ進む").last.click()

    expect(page.get_by_label("不満だった理由")).to_be_hidden()  # only after 「不満」
    page.get_by_label("不満", exact=True).check()
    expect(page.get_by_label("不満だった理由")).to_be_visible()
    page.get_by_role("button", name="次へ進む").last.click()
    # Required once 不満 is chosen: the page comes back with its error.
    expect(page.locator(".error-summary")).to_be_visible()
    assert_accessible(page, "a survey page with an error")
    page.get_by_label("不満だった理由").fill("番号を呼ばれるまでが長かった")
    page.get_by_label("窓口での待ち時間").fill("４５")  # full-width digits
    page.get_by_role("button", name="次へ進む").last.click()

    page.get_by_label("窓口についてのご意見・ご要望").fill("土曜日も開けてほしい")
    page.get_by_role("button", name="次へ進む").last.click()

    expect(page.get_by_role("heading", level=2, name="回答を送信する")).to_be_visible()
    assert_accessible(page, "the survey's check page")
    page.get_by_role("button", name="回答を送信する").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("ご回答ありがとうございました")
    assert_accessible(page, "the thank-you page")

    submission = Submission.objects.get()
    assert submission.receipt_number not in page.content()
    assert submission.answers == {
        "age_group": "40s", "purpose": ["certificate", "other"], "satisfaction": "dissatisfied",
        "reason": "番号を呼ばれるまでが長かった", "waiting_minutes": 45, "comment": "土曜日も開けてほしい",
    }
    assert submission.applicant_name == "" and submission.email == "" and submission.identity == {}
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing wider than the phone
