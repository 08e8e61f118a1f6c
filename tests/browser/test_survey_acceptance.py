"""Acceptance of アンケートと申込集計表, end to end in a real Chromium at 390×844.

A section administrator (所属管理者) builds a 10-question anonymous survey from the
browser — choices, multiple choice, a number, yes/no, free text, and 「不満の理由」 shown
only after 「不満」 or 「やや不満」, its condition picked from the earlier question — previews
it at phone size, and publishes it. 200 responses made by a seeded generator then arrive:
a few answered in the browser, more walked through the resident pages over HTTP, and the
rest keyed as paper answers into a CSV (CP932) uploaded on the survey's page. The tally
page and a split cross tabulation (満足度 × 年代, by 性別, picked on the page) must show
exactly the figures counted here from the generated answers: every option, 無回答 and
対象外, respondents of multiple choice, the number's statistics, every cross-tab cell,
subtotal and total. Nothing is sampled.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import random
import re
from collections import Counter
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

import pytest
from playwright.sync_api import Page, expect

from tests.support.a11y import assert_accessible

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

STAFF_PASSWORD = "kuyakusho-Passw0rd-2026"  # noqa: S105 (test accounts only)
SURVEY_NAME = "窓口サービス満足度調査"
CODE = "Q0001"  # the first survey's code
SEED = 20260413
TOTAL, IN_BROWSER, OVER_HTTP = 200, 3, 37  # the rest are paper answers imported from CSV
DISSATISFIED = ("やや不満", "不満")
BLANK, HIDDEN, RESPONSES = "無回答", "対象外（条件により非表示）", "回答総数"
MISSING = "－"

# The questions as the clerk builds them: (id in this test, label, builder type, options).
AGES = ["20歳未満", "20歳代", "30歳代", "40歳代", "50歳代", "60歳以上"]
GENDERS = ["女性", "男性", "回答しない"]
DISTRICTS = ["中央地区", "北部地区", "南部地区", "東部地区", "西部地区"]
PURPOSES = ["証明書の取得", "届出・申請", "相談", "税金の支払い"]
SATISFACTION = ["満足", "やや満足", "ふつう", "やや不満", "不満"]
WINDOWS = ["市民課", "税務課", "福祉課", "子育て支援課"]
PAGES = [
    ("あなたについて", [
        ("age", "年代", "choice", AGES),
        ("gender", "性別", "choice", GENDERS),
        ("district", "お住まいの地区", "choice", DISTRICTS),
    ]),
    ("今日の来庁について", [
        ("purpose", "来庁の目的", "multichoice", PURPOSES),
        ("satisfaction", "窓口の満足度", "choice", SATISFACTION),
        ("reason", "不満の理由", "textarea", None),
        ("wait", "待ち時間", "number", None),
        ("windows", "利用した窓口", "multichoice", WINDOWS),
    ]),
    ("これからについて", [
        ("revisit", "また市役所の窓口を利用したいと思いますか", "yesno", None),
        ("comment", "自由意見", "textarea", None),
    ]),
]
QUESTIONS = [q for _title, fields in PAGES for q in fields]
LABEL = {qid: label for qid, label, _t, _o in QUESTIONS}
TYPE_NAMES = {"choice": "選択肢から1つ", "multichoice": "選択肢から複数", "textarea": "複数行の文字",
              "number": "数値", "yesno": "はい・いいえ"}
REASONS = ["待ち時間が長かった", "案内が分かりにくかった", "窓口をいくつも回った", "駐車場が満車だった"]
COMMENTS = ["土曜日も開けてほしい", "職員の方が親切でした", "オンラインで済むと助かります", "番号表示を大きくしてほしい"]


# --- staff ---------------------------------------------------------------------------------


def totp_code(user) -> str:
    from django_otp.oath import TOTP
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.get(user=user, confirmed=True)
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():0{device.digits}d}"


@pytest.fixture
def clerk(settings, live_server):
    """The 所属管理者 of 市民課, which has no survey yet."""
    from django.contrib.auth import get_user_model
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from tenohira.backoffice.models import Role, StaffRole
    from tenohira.catalog.models import Department, Section

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.SITE_URL = live_server.url
    section = Section.objects.create(department=Department.objects.create(name="市民部"), name="市民課")
    user = get_user_model().objects.create_user("kanri", password=STAFF_PASSWORD, last_name="市民", first_name="管理")
    TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
    StaffRole.objects.create(user=user, role=Role.SECTION_ADMIN, section=section)
    return user


def sign_in(page: Page, base: str, user) -> None:
    page.goto(f"{base}/staff/login/")
    page.get_by_label("ユーザー名", exact=True).fill(user.username)
    page.get_by_label("パスワード", exact=True).fill(STAFF_PASSWORD)
    page.get_by_label("確認コード（6桁）", exact=True).fill(totp_code(user))
    page.get_by_role("button", name="ログイン").click()
    page.wait_for_url(f"{base}/staff/**")


def working_copy() -> dict:
    from tenohira.forms.models import FormDefinition

    return FormDefinition.objects.get(procedure__code=CODE).working_schema


def stored_fields() -> dict[str, dict]:
    """The working copy's fields by label."""
    return {f["label"]: f for s in working_copy()["steps"] for f in s["fields"]}


# --- building in the browser -------------------------------------------------------------


def add_field(page: Page, step: str, label: str, ftype: str, *, enter: bool) -> None:
    before = len(stored_fields())
    page.locator(f"#f-type-{step}").select_option(label=TYPE_NAMES[ftype])
    page.locator(f"#f-label-{step}").fill(label)
    if enter:  # Enter in the label adds (the hidden default button); it never removes
        page.locator(f"#f-label-{step}").press("Enter")
    else:
        page.locator(f"#step-{step}").get_by_role("button", name="項目を追加", exact=True).click()
    page.wait_for_load_state("load")
    expect(page.locator(".staff-messages")).to_contain_text(f"項目「{label}」を追加しました")
    assert len(stored_fields()) == before + 1


def open_field(page: Page, base: str, label: str) -> None:
    page.goto(f"{base}/staff/forms/{CODE}/fields/{stored_fields()[label]['key']}/")


def save_field(page: Page, *, enter_in=None) -> None:
    if enter_in is not None:
        enter_in.press("Enter")
    else:
        page.get_by_role("button", name="保存", exact=True).click()
    page.wait_for_url(f"**/staff/forms/{CODE}/#field-*")
    expect(page.locator(".staff-messages")).to_contain_text("を保存しました")


def set_choices(page: Page, base: str, label: str, options: list[str]) -> None:
    """The choice table shows the stored choices and three blank rows: rename, fill the
    blanks, save, and come back while options remain (the last save by Enter)."""
    done = 0
    while done < len(options):
        open_field(page, base, label)
        rows = page.locator("input[name=choice_label]")
        count = rows.count()
        for index in range(done, min(count, len(options))):
            rows.nth(index).fill(options[index])
        written = min(count, len(options))
        for index in range(written, count):
            rows.nth(index).fill("")  # the builder's 選択肢1/2 placeholders go if unused
        done = written
        save_field(page, enter_in=rows.nth(written - 1))
    assert [c["label"] for c in stored_fields()[label]["choices"]] == options


def build_survey(page: Page, base: str) -> None:
    page.goto(f"{base}/staff/forms/")
    page.locator("#f-survey-name").fill(SURVEY_NAME)
    page.locator("#f-survey-anonymous").check()
    page.get_by_role("button", name="アンケートを作る").click()
    page.wait_for_url(f"{base}/staff/forms/{CODE}/")
    expect(page.locator(".staff-messages")).to_contain_text(f"アンケート「{SURVEY_NAME}」（{CODE}）を作りました。")

    # Pages: the first one renamed (Enter in its title saves), two added (one by Enter).
    page.goto(f"{base}/staff/forms/{CODE}/steps/step1/")
    page.locator("#f-title").fill(PAGES[0][0])
    page.locator("#f-title").press("Enter")
    page.wait_for_url(f"{base}/staff/forms/{CODE}/#step-step1")
    page.locator("#f-step-title").fill(PAGES[1][0])
    page.locator("#f-step-title").press("Enter")
    page.wait_for_load_state("load")
    page.locator("#f-step-title").fill(PAGES[2][0])
    page.get_by_role("button", name="ページを追加").click()
    page.wait_for_load_state("load")
    steps = working_copy()["steps"]
    assert [s["title"] for s in steps] == [title for title, _f in PAGES]

    for number, ((_title, fields), step) in enumerate(zip(PAGES, steps, strict=True)):
        for index, (_qid, label, ftype, _options) in enumerate(fields):
            add_field(page, step["key"], label, ftype, enter=(number + index) % 2 == 0)
    assert list(stored_fields()) == [label for _q, label, _t, _o in QUESTIONS]

    for _qid, label, ftype, options in QUESTIONS:
        if options:
            set_choices(page, base, label, options)
    for label in (LABEL["age"], LABEL["satisfaction"]):
        open_field(page, base, label)
        page.locator("#f-required").check()
        save_field(page)
    open_field(page, base, LABEL["wait"])
    page.locator("#f-min").fill("0")
    page.locator("#f-max").fill("300")
    page.locator("#f-unit").fill("分")
    save_field(page, enter_in=page.locator("#f-unit"))
    purpose = stored_fields()[LABEL["purpose"]]
    open_field(page, base, LABEL["purpose"])
    page.locator("#f-hint").fill("あてはまるものをすべて選んでください")
    save_field(page, enter_in=page.locator("#f-hint"))
    assert stored_fields()[LABEL["purpose"]]["choices"] == purpose["choices"]  # Enter removed nothing

    # 不満の理由: shown only after やや不満 or 不満, picked from the earlier question.
    open_field(page, base, LABEL["reason"])
    page.locator("#f-show_source").select_option(label=LABEL["satisfaction"])
    shown = page.locator("[data-condition=show]")
    shown.get_by_label("やや不満", exact=True).check()
    shown.get_by_label("不満", exact=True).check()
    save_field(page)
    satisfaction = stored_fields()[LABEL["satisfaction"]]
    values = {c["label"]: c["value"] for c in satisfaction["choices"]}
    assert stored_fields()[LABEL["reason"]]["show_if"] == {
        "field": satisfaction["key"], "in": [values["やや不満"], values["不満"]]}

    page.goto(f"{base}/staff/forms/{CODE}/")
    expect(page.locator(".builder-problems")).to_have_count(0)
    assert len(stored_fields()) == 10  # nothing removed on the way
    assert_accessible(page, "the builder's editor")


def preview_at_phone_size(page: Page) -> None:
    """The editor's phone-sized preview runs the real engine: 「不満の理由」 appears only
    after 「不満」/「やや不満」 and the answer reaches the check page; nothing is stored."""
    from tenohira.applications.models import Draft, Submission

    frame_width = page.locator(".builder-preview__frame").evaluate("el => el.getBoundingClientRect().width")
    assert frame_width <= 390
    preview = page.frame_locator(".builder-preview__frame")
    preview.get_by_role("button", name="入力を消して始める").click()
    preview.get_by_role("link", name="回答する（入力を残したまま）").click()
    expect(preview.locator("h1")).to_have_text(PAGES[0][0])
    preview.get_by_label("30歳代", exact=True).check()
    preview.get_by_role("button", name="次へ進む").last.click()
    expect(preview.locator("h1")).to_have_text(PAGES[1][0])
    reason = preview.get_by_label(LABEL["reason"])
    expect(reason).to_be_hidden()
    preview.get_by_label("やや不満", exact=True).check()
    expect(reason).to_be_visible()
    preview.get_by_label("満足", exact=True).check()
    expect(reason).to_be_hidden()
    preview.get_by_label("不満", exact=True).check()
    expect(reason).to_be_visible()
    reason.fill("待ち時間が長かった")
    preview.get_by_label(LABEL["wait"]).fill("４０")
    preview.get_by_label(LABEL["wait"]).press("Enter")  # Enter continues
    expect(preview.locator("h1")).to_have_text(PAGES[2][0])
    preview.get_by_role("button", name="次へ進む").last.click()
    expect(preview.locator("h1")).to_have_text("入力内容の確認")
    expect(preview.locator("main")).to_contain_text("待ち時間が長かった")
    expect(preview.get_by_text("プレビューのため、送信はできません。")).to_be_visible()
    assert Draft.objects.count() == 0 and Submission.objects.count() == 0


def publish(page: Page, base: str) -> None:
    page.get_by_role("link", name="公開する").click()
    page.wait_for_url(f"{base}/staff/forms/{CODE}/publish/")
    expect(page.locator(".builder-diff")).to_contain_text(f"新しいフォーム「{SURVEY_NAME}」（3ページ、10項目）を初めて公開します。")
    page.get_by_role("button", name="第1版として公開する").click()
    expect(page.locator(".staff-messages")).to_contain_text("第1版を公開しました")


# --- the generated responses ---------------------------------------------------------------


def generate(rng: random.Random) -> list[dict]:
    """Answers by question id, with labels for choices; a missing key is a blank (or, for
    「不満の理由」 when satisfied, a question never shown)."""
    out = []
    for _ in range(TOTAL):
        a: dict = {"age": rng.choice(AGES), "satisfaction": rng.choices(SATISFACTION, weights=[5, 6, 4, 3, 2])[0]}
        if rng.random() < 0.85:
            a["gender"] = rng.choice(GENDERS)
        if rng.random() < 0.9:
            a["district"] = rng.choice(DISTRICTS)
        chosen = [p for p in PURPOSES if rng.random() < 0.4]
        if chosen:
            a["purpose"] = chosen
        if a["satisfaction"] in DISSATISFIED and rng.random() < 0.7:
            a["reason"] = rng.choice(REASONS)
        if rng.random() < 0.85:
            a["wait"] = rng.choice([0, 3, 5, 10, 15, 20, 30, 45, 60, 90, 120])
        chosen = [w for w in WINDOWS if rng.random() < 0.35]
        if chosen:
            a["windows"] = chosen
        if rng.random() < 0.9:
            a["revisit"] = rng.random() < 0.7
        if rng.random() < 0.4:
            a["comment"] = rng.choice(COMMENTS)
        out.append(a)
    return out


def answer_in_browser(page: Page, base: str, a: dict) -> None:
    page.goto(f"{base}/procedures/{CODE}/apply/")
    expect(page.locator("#anonymous")).to_have_text("このアンケートは匿名です。お名前や連絡先は記録しません。")
    page.get_by_role("button", name="回答する").click()
    for qid in ("age", "gender", "district"):
        if qid in a:
            page.get_by_label(a[qid], exact=True).check()
    page.get_by_role("button", name="次へ進む").last.click()
    expect(page.locator("h1")).to_have_text(PAGES[1][0])
    for option in a.get("purpose", []) + a.get("windows", []):
        page.get_by_label(option, exact=True).check()
    page.get_by_label(a["satisfaction"], exact=True).check()
    reason = page.get_by_label(LABEL["reason"])
    if a["satisfaction"] in DISSATISFIED:
        expect(reason).to_be_visible()
        if "reason" in a:
            reason.fill(a["reason"])
    else:
        expect(reason).to_be_hidden()
    if "wait" in a:
        page.get_by_label(LABEL["wait"]).fill(str(a["wait"]))
    page.get_by_role("button", name="次へ進む").last.click()
    expect(page.locator("h1")).to_have_text(PAGES[2][0])
    if "revisit" in a:
        page.get_by_label("はい" if a["revisit"] else "いいえ", exact=True).check()
    if "comment" in a:
        page.get_by_label(LABEL["comment"]).fill(a["comment"])
    page.get_by_role("button", name="次へ進む").last.click()
    page.get_by_role("button", name="回答を送信する").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("ご回答ありがとうございました")


def http_posts(schema: dict, a: dict, index: int) -> list[dict]:
    """What a browser without JavaScript posts on each page: text inputs always (empty
    when blank); now and then a 「不満の理由」 typed before the answer changed to satisfied,
    which the form must drop because the question is not shown."""
    fields = {f["label"]: f for s in schema["steps"] for f in s["fields"]}

    def value_of(label, text):
        return next(c["value"] for c in fields[label]["choices"] if c["label"] == text)

    posts = []
    for _title, questions in PAGES:
        data: dict = {"action": "continue"}
        for qid, label, ftype, _options in questions:
            key = fields[label]["key"]
            if ftype == "choice" and qid in a:
                data[key] = value_of(label, a[qid])
            elif ftype == "multichoice" and qid in a:
                data[key] = [value_of(label, o) for o in a[qid]]
            elif ftype == "yesno" and qid in a:
                data[key] = "yes" if a[qid] else "no"
            elif ftype == "number":
                data[key] = "" if qid not in a else (f"{a[qid]:,}" if index % 3 else to_full_width(a[qid]))
            elif ftype == "textarea":
                data[key] = a.get(qid, "")
                if qid == "reason" and qid not in a and a["satisfaction"] not in DISSATISFIED and index % 4 == 0:
                    data[key] = "（書きかけたが満足に変えた）"
        posts.append(data)
    return posts


def to_full_width(number: int) -> str:
    return str(number).translate(str.maketrans("0123456789", "０１２３４５６７８９"))


def answer_over_http(schema: dict, a: dict, index: int) -> None:
    from django.test import Client

    client = Client()
    response = client.post(f"/procedures/{CODE}/apply/")
    assert response.status_code == 302, response.status_code
    location = response["Location"]
    for data in http_posts(schema, a, index):
        assert "/check/" not in location, location
        response = client.post(location, data)
        assert response.status_code == 302, problems(response)
        location = response["Location"]
    assert location.endswith("/check/"), location
    assert client.get(location).status_code == 200
    response = client.post(location, {})
    assert response.status_code == 302 and response["Location"].endswith("/done/"), problems(response)


def problems(response) -> str:
    text = response.content.decode("utf-8", "replace")
    found = re.search(r'<div class="error-summary".*?</div>', text, re.S)
    return re.sub(r"<[^>]+>", " ", found.group(0)) if found else text[:1500]


def paper_csv(header: list[str], answers: list[dict], rng: random.Random) -> bytes:
    """The answers keyed from paper into the downloaded template's columns, saved by an
    older Excel as Shift_JIS (CP932)."""
    by_label = {label: (qid, ftype) for qid, label, ftype, _o in QUESTIONS}
    today = dt.date.today()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for index, a in enumerate(answers):
        row = []
        for column in header:
            if column == "回答日":
                day = today - dt.timedelta(days=rng.randint(0, 20))
                wareki = f"令和{day.year - 2018}年{day.month}月{day.day}日"
                row.append("" if index % 4 == 0 else day.isoformat() if index % 2 else wareki)
                continue
            qid, ftype = by_label[column]
            value = a.get(qid)
            if value is None:
                row.append("")
            elif ftype == "multichoice":
                row.append(("、" if index % 2 else ",").join(value))
            elif ftype == "yesno":
                row.append("はい" if value else "いいえ")
            elif ftype == "number":
                row.append(to_full_width(value) if index % 5 == 0 else str(value))
            else:
                row.append(str(value))
        writer.writerow(row)
    return out.getvalue().encode("cp932")


# --- counting independently ----------------------------------------------------------------


def pct(n: int, d: int) -> Decimal | None:
    if not d:
        return None
    return Decimal(Fraction(n * 100, d).numerator) / Decimal(Fraction(n * 100, d).denominator)


def half_up(value: Decimal | None, places: int) -> Decimal | None:
    return None if value is None else value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def shown(qid: str, a: dict) -> bool:
    return qid != "reason" or a["satisfaction"] in DISSATISFIED


def expected_question(qid: str, ftype: str, options, answers: list[dict]) -> dict:
    n = len(answers)
    hidden = sum(1 for a in answers if not shown(qid, a))
    answered = sum(1 for a in answers if shown(qid, a) and a.get(qid) not in (None, "", []))
    blank = n - hidden - answered
    out = {"answered": answered, "blank": blank, "hidden": hidden}
    if ftype == "yesno":
        options = ["はい", "いいえ"]
        counts = Counter("はい" if a[qid] else "いいえ" for a in answers if qid in a)
    elif options:
        counts = Counter()
        for a in answers:
            value = a.get(qid)
            counts.update(value if isinstance(value, list) else [value] if value else [])
    if ftype == "number":
        values = sorted(a[qid] for a in answers if qid in a)
        middle = len(values) // 2
        median = Decimal(values[middle]) if len(values) % 2 else Decimal(values[middle - 1] + values[middle]) / 2
        out["numbers"] = {"回答数（件）": Decimal(len(values)), "合計": Decimal(sum(values)),
                          "平均": half_up(Decimal(sum(values)) / len(values), 2), "中央値": median,
                          "最小": Decimal(values[0]), "最大": Decimal(values[-1]),
                          f"{BLANK}（件）": Decimal(blank), f"{HIDDEN}（件）": Decimal(hidden)}
    elif options:
        out["options"] = [(o, counts[o]) for o in options]
    return out


def number(text: str) -> Decimal | None:
    text = text.strip()
    if text == MISSING:
        return None
    return Decimal(text.rstrip("%").replace(",", ""))


def rate_cell(n: int, d: int) -> Decimal | None:
    return half_up(pct(n, d), 1)


def check_simple_table(table: dict, index: int, qid: str, label: str, ftype: str, options, answers) -> None:
    n = len(answers)
    want = expected_question(qid, ftype, options, answers)
    kind = {"choice": "単一選択", "multichoice": "複数選択", "yesno": "はい・いいえ", "number": "数値",
            "textarea": "記述（件数のみ）"}[ftype]
    assert table["title"] == f"問{index} {label}（{kind}）"
    body = table["body"]
    if ftype == "number":
        assert table["head"] == [["項目", "値（分）"]]
        assert {row[0]: number(row[1]) for row in body} == want["numbers"], label
        assert [row[0] for row in body] == list(want["numbers"]), label
        return
    share = "回答者に対する割合" if ftype == "multichoice" else "有効回答に対する割合"
    assert table["head"] == [["選択肢" if "options" in want else "回答", "件数", "回答総数に対する割合", share]]
    if "options" in want:
        expected_rows = [[o, c, rate_cell(c, n), rate_cell(c, want["answered"])] for o, c in want["options"]]
    else:
        expected_rows = [["回答あり", want["answered"], rate_cell(want["answered"], n), None]]
    expected_rows += [[BLANK, want["blank"], rate_cell(want["blank"], n), None],
                      [HIDDEN, want["hidden"], rate_cell(want["hidden"], n), None]]
    read = [[row[0], int(number(row[1])), number(row[2]), number(row[3])] for row in body]
    assert read == expected_rows, label
    assert table["foot"] == [[RESPONSES, f"{n:,}", "100.0%", MISSING]], label
    if ftype == "multichoice":  # the denominator is the respondents, stated under the table
        assert f"回答者 {want['answered']:,}人" in table["notes"], label


def check_cross_table(table: dict, answers: list[dict]) -> None:
    """満足度 (rows) × 年代 (columns) split by 性別: every cell, subtotal and total."""
    ages, groups, rows = AGES + [BLANK], GENDERS + [BLANK], SATISFACTION + [BLANK]
    assert table["title"] == f"クロス集計: {LABEL['satisfaction']} × {LABEL['age']}（{LABEL['gender']}別）"
    assert table["head"] == [[LABEL["satisfaction"], *groups, "合計"], [*(ages + ["小計"]) * len(groups)]]
    cells = Counter((a["satisfaction"], a["age"], a.get("gender", BLANK)) for a in answers)
    expected_body = []
    for r in rows:
        line: list = [r]
        for g in groups:
            counts = [cells[(r, c, g)] for c in ages]
            line += [*counts, sum(counts)]
        line.append(sum(n for (rr, _c, _g), n in cells.items() if rr == r))
        expected_body.append(line)
    foot: list = ["合計"]
    for g in groups:
        counts = [sum(n for (_r, c, gg), n in cells.items() if c == col and gg == g) for col in ages]
        foot += [*counts, sum(counts)]
    foot.append(len(answers))
    as_read = [[row[0], *(int(number(v)) for v in row[1:])] for row in table["body"]]
    assert as_read == expected_body
    assert [[row[0], *(int(number(v)) for v in row[1:])] for row in table["foot"]] == [foot]
    # Both answered on every response (required), so their 無回答 row and columns are 0.
    assert expected_body[-1][1:] == [0] * (len(expected_body[-1]) - 1)


def csv_blocks(text: str) -> dict[str, list[list[str]]]:
    """The tally CSV's tables by title: the rows after each title's heading row."""
    blocks: dict[str, list[list[str]]] = {}
    rows = list(csv.reader(io.StringIO(text)))
    for index, row in enumerate(rows):
        if len(row) == 1 and (row[0].startswith("問") or row[0].startswith("クロス集計:")):
            end = next((i for i in range(index + 1, len(rows)) if not rows[i]), len(rows))
            blocks[row[0]] = rows[index + 2:end]
    return blocks


def csv_number(text: str) -> Decimal | None:
    return None if text == "" else Decimal(text)


READ_TABLES = """() => Array.from(document.querySelectorAll('.insights-table')).map(t => {
  const cells = sel => Array.from(t.querySelectorAll(sel)).map(r => Array.from(r.cells).map(c => c.textContent.trim()));
  return {id: t.id, title: t.querySelector('h3').textContent.trim(), head: cells('thead tr'),
          body: cells('tbody tr'), foot: cells('tfoot tr'),
          notes: Array.from(t.querySelectorAll('p.hint')).map(p => p.textContent.trim()).join(' ')};
})"""


# --- the test --------------------------------------------------------------------------------


def test_survey_built_answered_imported_and_tallied(live_server, clerk, phone: Page, tmp_path):
    from tenohira.applications.models import Channel, Submission
    from tenohira.forms.models import FormDefinition

    base, page = live_server.url, phone
    sign_in(page, base, clerk)

    # 1. Built, previewed at phone size and published from the browser.
    build_survey(page, base)
    preview_at_phone_size(page)
    publish(page, base)
    definition = FormDefinition.objects.get(procedure__code=CODE)
    assert definition.kind == FormDefinition.Kind.SURVEY and definition.anonymous
    schema = definition.published_version().schema

    # 2. 200 responses: 3 in a resident's browser, 37 over HTTP, 160 from paper (CSV).
    rng = random.Random(SEED)
    answers = generate(rng)
    # Make sure each path carries the conditional question both shown and hidden.
    assert {a["satisfaction"] in DISSATISFIED for a in answers[IN_BROWSER:IN_BROWSER + OVER_HTTP]} == {True, False}
    answers[0].update(satisfaction="不満", reason=REASONS[0])
    answers[1].update(satisfaction="満足")
    answers[1].pop("reason", None)
    for key in ("gender", "district", "purpose", "wait", "windows", "revisit", "comment"):
        answers[2].pop(key, None)  # everything that is not required left blank
    resident = page.context.browser.new_context(viewport={"width": 390, "height": 844}, locale="ja-JP",
                                                timezone_id="Asia/Tokyo", is_mobile=True, has_touch=True)
    try:
        form = resident.new_page()
        for a in answers[:IN_BROWSER]:
            answer_in_browser(form, base, a)
        assert form.evaluate("document.documentElement.scrollWidth") <= 390
    finally:
        resident.close()
    for index, a in enumerate(answers[IN_BROWSER:IN_BROWSER + OVER_HTTP], start=IN_BROWSER):
        answer_over_http(schema, a, index)
    online = Submission.objects.filter(procedure__code=CODE)
    assert online.count() == IN_BROWSER + OVER_HTTP
    assert not online.exclude(applicant_name="").exists() and not online.exclude(email="").exists()
    # A reason posted while 満足 was chosen (no JavaScript) is not kept: the question was not shown.
    reason_key, satisfaction = stored_fields()[LABEL["reason"]]["key"], stored_fields()[LABEL["satisfaction"]]
    shown_when = {c["value"] for c in satisfaction["choices"] if c["label"] in DISSATISFIED}
    assert all(reason_key not in s.answers for s in online if s.answers[satisfaction["key"]] not in shown_when)

    page.goto(f"{base}/staff/surveys/")
    page.get_by_role("link", name=SURVEY_NAME).click()
    page.wait_for_url(f"{base}/staff/surveys/{CODE}/")
    with page.expect_download() as download:
        page.get_by_role("link", name="CSV（UTF-8）").click()
    header = next(csv.reader(io.StringIO(download.value.path().read_bytes().decode("utf-8-sig"))))
    assert header == [label for _q, label, _t, _o in QUESTIONS] + ["回答日"]
    paper = tmp_path / "紙の回答.csv"
    paper.write_bytes(paper_csv(header, answers[IN_BROWSER + OVER_HTTP:], rng))
    page.locator("#f-file").set_input_files(str(paper))
    page.get_by_role("button", name="取り込む").click()
    expect(page.locator("#imported")).to_have_text(f"{TOTAL - IN_BROWSER - OVER_HTTP}件の回答を取り込みました。")
    assert_accessible(page, "the survey page after an import")
    assert Submission.objects.filter(procedure__code=CODE).count() == TOTAL
    assert Submission.objects.filter(procedure__code=CODE, channel=Channel.PAPER).count() == TOTAL - IN_BROWSER - OVER_HTTP

    # 3. The tally with the split cross tabulation chosen with the page's pickers.
    page.get_by_role("link", name="集計表を見る").click()
    page.wait_for_url(f"{base}/staff/tallies/{CODE}/")
    page.get_by_label("行の質問").select_option(label=LABEL["satisfaction"])
    page.get_by_label("列の質問").select_option(label=LABEL["age"])
    page.get_by_label("列を分ける質問（任意。例: 年代）").select_option(label=LABEL["gender"])
    page.get_by_role("button", name="集計する").click()
    page.wait_for_load_state("load")
    expect(page.locator("#tally-cross-title")).to_be_visible()
    assert_accessible(page, "the tally with a split cross tabulation")
    header_cells = dict(zip(page.locator(".tally-header dt").all_text_contents(),
                            page.locator(".tally-header dd").all_text_contents(), strict=True))
    assert header_cells["様式ID"] == CODE and header_cells["様式名"] == SURVEY_NAME
    assert header_cells["版"] == "第1版" and header_cells["回答数"] == f"{TOTAL:,}件"

    tables = {t["id"]: t for t in page.evaluate(READ_TABLES)}
    fields = {f["label"]: f for s in schema["steps"] for f in s["fields"]}
    simple = [t for key, t in tables.items() if key != "cross"]
    assert [t["id"] for t in simple] == [f"q-{fields[label]['key']}".replace("_", "-") for _q, label, _t, _o in QUESTIONS]
    for index, ((qid, label, ftype, options), table) in enumerate(zip(QUESTIONS, simple, strict=True), start=1):
        check_simple_table(table, index, qid, label, ftype, options, answers)
    check_cross_table(tables["cross"], answers)

    # The CSV download (Shift_JIS, the page's link, so the same picks) holds the same figures.
    with page.expect_download() as download:
        page.get_by_role("link", name="CSV（Shift_JIS / CP932。古い Excel・業務システム向け）").click()
    blocks = csv_blocks(download.value.path().read_bytes().decode("cp932"))
    for table in tables.values():
        rows = blocks[table["title"]]
        page_rows = table["body"] + table["foot"]
        assert [r[0] for r in rows[:len(page_rows)]] == [r[0] for r in page_rows], table["title"]
        assert [[csv_number(v) for v in r[1:]] for r in rows[:len(page_rows)]] == \
            [[number(v) for v in r[1:]] for r in page_rows], table["title"]

    # The command line gives the same cross tabulation as JSON.
    from django.core.management import call_command

    out = io.StringIO()
    call_command("form_tally", CODE, "--cross", fields[LABEL["satisfaction"]]["key"], fields[LABEL["age"]]["key"],
                 "--split", fields[LABEL["gender"]]["key"], "--format", "json", stdout=out)
    result = json.loads(out.getvalue())
    assert result["header"]["responses"] == TOTAL
    assert result["cross"]["totals"]["total"] == TOTAL
    by_key = {q["key"]: q for q in result["questions"]}
    reason = by_key[fields[LABEL["reason"]]["key"]]
    want = expected_question("reason", "textarea", None, answers)
    assert (reason["answered"], reason["blank"], reason["hidden"]) == (want["answered"], want["blank"], want["hidden"])
