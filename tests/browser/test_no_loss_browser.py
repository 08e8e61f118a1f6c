"""Enter in every field of every demo form loses nothing, with JavaScript and without.

For each demo form the resident fills every field the page shows with a valid answer
(values chosen from the form's own definition), adds a second row to each repeating group
and attaches a photo where a file is asked for. Then Enter is pressed in each input, one
after the other. Each press must send the form with 次へ (action=continue) carrying every
answer, the rows and the file, never 削除, 追加 or 住所を検索; those presses are answered
with an empty 204 by the test, so the page stays as it is and the next field can be tried.
In a textarea Enter must only add a line. The last field's Enter is let through to the
server: the next page opens, and at the end the check page and the stored draft hold
every answer, both rows and the file.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

SRC = Path(__file__).resolve().parents[2] / "src" / "tenohira"
DEMO_CATALOG = SRC / "catalog" / "demo" / "sample_city.csv"
DEMO_FORMS = SRC / "forms" / "demo"
CODES = sorted(p.stem for p in DEMO_FORMS.glob("*.json"))
PHOTO_NAME = "証明書の写真.jpg"


@pytest.fixture
def demo_forms():
    """The demo catalog and every demo form, published as `tenohira demo` does."""
    from tenohira.catalog.models import Procedure
    from tenohira.catalog.services import import_catalog
    from tenohira.forms.services import publish

    import_catalog(DEMO_CATALOG)
    # 粗大ごみ books a collection day on the district's route: the demo's routes and days.
    from tenohira.reservations.demo import collection

    collection.seed()
    # 住民票 asks for the My Number card (test_identity_browser walks it signed in); here
    # every form is walked for what Enter sends and keeps, so none asks for a sign-in.
    Procedure.objects.filter(code="HJC").update(identity="none")
    schemas = {}
    for code in CODES:
        raw = json.loads((DEMO_FORMS / f"{code}.json").read_text(encoding="utf-8"))
        version, _created = publish(Procedure.objects.get(code=code), raw)
        schemas[code] = version.parsed()
    return schemas


@pytest.fixture(scope="module")
def photo() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), "white").save(buffer, format="JPEG")
    return buffer.getvalue()


class Typist:
    """Valid answers for one form, chosen from its definition (field type and options)."""

    def __init__(self, schema):
        self.fields = schema.field_map()
        self.count = 0

    def field_of(self, name: str):
        base, _sep, _part = name.partition("__")
        if "-" in base:
            group, _index, key = base.split("-", 2)
            return self.fields.get(f"{group}.{key}")
        return self.fields.get(base)

    def value(self, name: str) -> str:
        field = self.field_of(name)
        part = name.partition("__")[2]
        self.count += 1
        kind = field.type if field is not None else "text"
        if kind == "name":
            return {"family": "山田", "given": f"花子{self.count}", "family_kana": "ヤマダ", "given_kana": "ハナコ"}[part]
        if kind == "address":
            return {"postal_code": "963-8601", "prefecture": "福島県", "city": "郡山市", "town": "朝日",
                    "street": f"1-2-{self.count}", "building": f"ハイツ{self.count}"}[part]
        if kind == "date":
            if field.option("min_days_from_today") is not None:
                return (dt.date.today() + dt.timedelta(days=field.option("min_days_from_today") + 3)).isoformat()
            return "2016-05-10"
        if kind == "number":
            return "2"
        if kind == "email":
            return "hanako@example.jp"
        if kind == "phone":
            return "090-1234-5678"
        if kind == "postal_code":
            return "963-8601"
        if kind == "textarea":
            return f"説明{self.count}"
        return f"入力{self.count}"


def visible_inputs(page: Page):
    """(name, type, locator) of every input of the step form the resident can see."""
    found = []
    for element in page.locator("form[data-form] input, form[data-form] textarea").all():
        kind = element.get_attribute("type") or ("textarea" if element.evaluate("e => e.tagName") == "TEXTAREA" else "text")
        if kind in {"hidden", "submit", "button"} or not element.is_visible():
            continue
        found.append((element.get_attribute("name"), kind, element))
    return found


def fill_page(page: Page, typist: Typist, photo: bytes) -> dict[str, str]:
    """Answer everything on the page; returns what was typed, by input name."""
    # A second row in every repeating group first (追加 is a server round trip).
    for _ in range(5):
        adds = [b for b in page.locator("form[data-form] button[value^='add:']").all()
                if len(page.locator(f"#f-{b.get_attribute('value')[4:]} .group__row").all()) < 2]
        if not adds:
            break
        with page.expect_navigation():
            adds[0].click()
    typed: dict[str, str] = {}
    # Choices first: with JavaScript they reveal the questions that depend on them.
    chosen: set[str] = set()
    for name, kind, element in visible_inputs(page):
        if kind in {"radio", "checkbox"} and name not in chosen:
            element.check()
            chosen.add(name)
            typed[name] = element.get_attribute("value")
    for name, kind, element in visible_inputs(page):
        if kind == "file":
            element.set_input_files(files=[{"name": PHOTO_NAME, "mimeType": "image/jpeg", "buffer": photo}])
        elif kind not in {"radio", "checkbox"}:
            value = typist.value(name)
            element.fill(value)
            typed[name] = value
    return typed


def press_enter_everywhere(page: Page, typed: dict[str, str]) -> int:
    """Enter in each input: every press sends 次へ with all the answers. Returns the
    number of presses checked."""
    posts: list[bytes] = []

    def answer(route):
        if route.request.method == "POST":
            posts.append(route.request.post_data_buffer or b"")
            route.fulfill(status=204)  # the page stays: the next field can be tried
        else:
            route.continue_()

    url = page.url
    page.route(url, answer)
    presses = 0
    try:
        pressed_names: set[str] = set()
        for name, kind, element in visible_inputs(page):
            if kind == "file" or (kind in {"radio", "checkbox"} and name in pressed_names):
                continue
            pressed_names.add(name)
            before = len(posts)
            if kind == "textarea":
                element.press("End")
                element.press("Enter")
                page.wait_for_timeout(150)
                assert len(posts) == before, f"Enter in the textarea {name} sent the form"
                typed[name] = element.input_value()
                continue
            element.press("Enter")
            page.wait_for_function("() => true")  # let the browser start the submission
            deadline = 50
            while len(posts) == before and deadline:
                page.wait_for_timeout(20)
                deadline -= 1
            assert len(posts) == before + 1, f"Enter in {name} ({kind}) did not send the form"
            body = posts[-1]
            action = re.search(rb'name="action"\r\n\r\n([^\r]*)\r\n', body)
            assert action and action.group(1) == b"continue", (name, action and action.group(1))
            for field_name, value in typed.items():
                assert value.replace("\n", "\r\n").encode() in body, f"{field_name}={value!r} not sent on Enter in {name}"
            for count in re.finditer(rb'name="([a-z_]+-count)"\r\n\r\n(\d+)', body):
                assert count.group(2) == b"2", count.group(0)
            if page.locator("form[data-form] input[type=file]").count():
                assert PHOTO_NAME.encode() in body or b"filename=" in body
            presses += 1
    finally:
        page.unroute(url, answer)
    return presses


def walk_form(page: Page, base_url: str, code: str, schema, photo: bytes) -> tuple[str, dict, int]:
    page.goto(f"{base_url}/procedures/{code}/apply/")
    page.get_by_role("button", name="申請を始める").click()
    page.wait_for_url(re.compile(r"/apply/[0-9a-f-]{36}/[a-z_0-9]+/$"))
    public_id = re.search(r"/apply/([0-9a-f-]{36})/", page.url).group(1)
    typist = Typist(schema)
    typed_by_step: dict[str, dict[str, str]] = {}
    presses = 0
    for _page in range(len(schema.steps) + 1):
        if page.url.endswith("/check/"):
            break
        step = page.url.rstrip("/").rsplit("/", 1)[1]
        typed = fill_page(page, typist, photo)
        presses += press_enter_everywhere(page, typed)
        typed_by_step[step] = typed
        # The last Enter goes through: the next page opens, nothing refused. (A page of
        # textareas only, where Enter makes new lines, is sent with the button.)
        target = next((e for _n, kind, e in visible_inputs(page) if kind not in {"file", "textarea"}), None)
        with page.expect_navigation():
            if target is not None:
                target.press("Enter")
            else:
                page.locator(".actions").get_by_role("button", name="次へ進む").click()
        errors = page.locator(".error-summary")
        assert not errors.count(), f"{code}/{step}: {errors.inner_text()}"
        assert not page.url.endswith(f"/{step}/"), f"{code}: Enter on {step} stayed on the page"
    assert page.url.endswith("/check/"), page.url
    return public_id, typed_by_step, presses


def assert_nothing_lost(page: Page, public_id: str, code: str, schema, typed_by_step: dict) -> None:
    from tenohira.applications.models import Attachment, Draft

    draft = Draft.objects.get(public_id=public_id)
    for step, typed in typed_by_step.items():
        stored = draft.raw[step]
        for name, value in typed.items():
            assert [v.replace("\r\n", "\n") for v in stored.get(name, [])] == [value], (code, step, name, stored.get(name))
    main = page.locator("main").inner_text()
    for field in schema.all_fields():
        if field.type == "group":
            assert f"{field.option('row_label') or field.label}2" in main, (code, field.key)
            assert draft.raw[next(s.key for s in schema.steps if field in s.fields)][f"{field.key}-count"] == ["2"]
    if schema.has_files:
        assert Attachment.objects.filter(draft=draft, original_name=PHOTO_NAME).exists(), code
        assert PHOTO_NAME in main, code
    # The typed names and free texts are on the check page as well.
    for typed in typed_by_step.values():
        for name, value in typed.items():
            if value.startswith(("入力", "説明")) and page.locator(f"text={value.strip()}").count() == 0:
                # Only answers that apply are shown: a question hidden by an answer keeps
                # its typing in the draft (checked above) but is not on the check page.
                field = Typist(schema).field_of(name)
                assert field is not None and (field.show_if or (field.parent and field.parent.show_if)), (code, name)


@pytest.mark.parametrize("javascript", [True, False], ids=["with-js", "without-js"])
def test_enter_in_every_field_of_every_demo_form_loses_nothing(
    live_server, demo_forms, chromium, photo, javascript
):
    context = chromium.new_context(**_phone(), java_script_enabled=javascript)
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        total = 0
        for code in CODES:
            schema = demo_forms[code]
            public_id, typed_by_step, presses = walk_form(page, live_server.url, code, schema, photo)
            assert_nothing_lost(page, public_id, code, schema, typed_by_step)
            total += presses
        assert total > 100, total  # every field of five forms, not a handful
    finally:
        context.close()


def _phone() -> dict:
    """The phone of tests/browser/conftest.py (390×844), which a test module cannot import."""
    return {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 3, "is_mobile": True,
            "has_touch": True, "locale": "ja-JP", "timezone_id": "Asia/Tokyo"}
