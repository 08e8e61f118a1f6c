"""Bounded work per request: whatever a step POST holds, the server answers with a page
(never a 500, never a worker kept busy), says what to fix in Japanese, and stores only
the inputs of the step's own fields."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tenohira.applications.models import Draft

FORM = {
    "title": "入力の上限のテスト",
    "steps": [
        {
            "key": "about",
            "title": "内容",
            "fields": [
                {"key": "copies", "type": "number", "label": "通数", "min": 1, "max": 10},
                {"key": "income", "type": "number", "label": "収入", "integer": False, "unit": "円"},
                {"key": "note", "type": "text", "label": "メモ", "max_length": 20},
                {"key": "story", "type": "textarea", "label": "経緯"},
                {"key": "born", "type": "date", "label": "生年月日"},
                {"key": "tel", "type": "phone", "label": "電話番号"},
                {"key": "zip", "type": "postal_code", "label": "郵便番号"},
                {"key": "mail", "type": "email", "label": "メールアドレス"},
                {"key": "kids", "type": "group", "label": "お子さん", "row_label": "お子さん", "min": 1, "max": 3,
                 "fields": [{"key": "kid_name", "type": "text", "label": "名前"}]},
            ],
        },
        {"key": "end", "title": "おわり", "fields": [{"key": "ok", "type": "yesno", "label": "以上ですか"}]},
    ],
}


@pytest.fixture
def started(publish_form, flow, browser):
    publish_form(FORM, code="BND")
    return browser, flow.start(browser, "BND")


def post(started, data):
    browser, public_id = started
    return browser.post(f"/apply/{public_id}/about/", {"action": "continue", **data})


def stored(started) -> dict:
    return Draft.objects.get(public_id=started[1]).raw["about"]


@pytest.fixture
def no_decimal_conversion(monkeypatch):
    """Fails the test if a number field hands the text to Decimal before checking it:
    1e9999999 costs nothing to parse but a minute to turn into an int."""
    import tenohira.forms.fields as fields

    seen = []

    def guarded(text="0", *args, **kwargs):
        seen.append(text)
        if isinstance(text, str) and ("e" in text.lower() or "n" in text.lower() or len(text) > 40):
            raise AssertionError(f"Decimal() called with {text[:30]!r}")
        return Decimal(text, *args, **kwargs)

    monkeypatch.setattr(fields, "Decimal", guarded)
    return seen


@pytest.mark.parametrize("value", ["1e9999999", "1E9999999", "-1e9999999", "9e+999999999", "1e-9999999"])
def test_an_exponent_is_refused_before_any_conversion(started, no_decimal_conversion, value):
    for name in ("copies", "income"):
        response = post(started, {name: value})
        assert response.status_code == 400
        html = response.content.decode()
        assert "は数字で入力してください" in html, html[:3000]


@pytest.mark.parametrize("value", ["Infinity", "-Infinity", "inf", "NaN", "sNaN", "-sNaN", "nan123"])
def test_nan_and_infinities_are_refused_with_a_message(started, value):
    for name in ("copies", "income"):
        response = post(started, {name: value})
        assert response.status_code == 400, (name, value)
        assert "は数字で入力してください" in response.content.decode()


def test_a_huge_digit_string_is_refused_naming_the_number_of_digits(started, no_decimal_conversion):
    response = post(started, {"copies": "9" * 4000, "income": "1" * 30 + ".5"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "通数は15桁以内の数字で入力してください。" in html
    assert "収入は15桁以内の数字で入力してください。" in html


def test_plain_numbers_with_full_width_digits_and_commas_still_work(started):
    response = post(started, {"copies": "３", "income": "１２,３４５.５円"})
    assert "数字で入力" not in response.content.decode()
    from tenohira.applications.services import run_of

    answers = run_of(Draft.objects.get(public_id=started[1])).answers
    assert answers["copies"] == 3 and answers["income"] == "12345.5"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("note", "あ" * 21, "メモは20文字以内で入力してください（今は21文字です）。"),
        ("story", "い" * 2001, "経緯は2000文字以内で入力してください（今は2001文字です）。"),
        ("born", "2" * 100, "生年月日は30文字以内で入力してください。"),
        ("tel", "0" * 100, "電話番号は30文字以内で入力してください。"),
        ("zip", "1" * 100, "郵便番号は20文字以内で入力してください。"),
        ("mail", "a" * 300 + "@example.jp", "メールアドレスは254文字以内で入力してください。"),
    ],
)
def test_over_long_inputs_are_refused_naming_the_limit(started, name, value, message):
    response = post(started, {name: value})
    assert response.status_code == 400
    assert message in response.content.decode()


def test_what_is_stored_is_bounded_even_for_a_very_long_input(started):
    post(started, {"story": "う" * 200_000})
    assert len(stored(started)["story"][0]) <= 10_000


def test_text_inputs_carry_their_maxlength(started):
    browser, public_id = started
    html = browser.get(f"/apply/{public_id}/about/").content.decode()
    assert 'name="note" value="" maxlength="20"' in html or ('name="note"' in html and 'maxlength="20"' in html)
    assert 'maxlength="2000"' in html


def test_unknown_post_keys_are_never_stored(started):
    post(started, {
        "copies": "2", "evil": "x", "copies__evil": "x", "note__part": "x", "kids-0-evil": "x",
        "kids-7-kid_name": "x", "kids-0-kid_name__x": "x", "kids-99999999-kid_name": "x", "csrfmiddlewaretoken": "x",
        "kids-0-kid_name": "花子", "kids-count": "1",
    })
    assert set(stored(started)) == {"copies", "kids-0-kid_name", "kids-count"}


def test_too_many_rows_are_refused_and_not_stored(started):
    rows = {f"kids-{i}-kid_name": f"子{i}" for i in range(6)}
    response = post(started, {"kids-count": "6", **rows})
    assert response.status_code == 400
    assert "お子さんは3件まで入力できます。" in response.content.decode()
    assert not {f"kids-{i}-kid_name" for i in range(3, 6)} & set(stored(started))


def test_many_values_for_one_input_are_not_all_kept(started):
    browser, public_id = started
    browser.post(f"/apply/{public_id}/about/", {"action": "continue", "note": ["a"] * 500})
    assert len(stored(started)["note"]) == 1


def test_a_nul_character_is_dropped_not_a_database_error(started):
    # PostgreSQL refuses NUL inside JSON text: a draft holding one could not be saved.
    response = post(started, {"note": "山田\x00花子", "kids-0-kid_name": "\x00"})
    assert response.status_code in (302, 400)
    assert stored(started)["note"] == ["山田花子"]
