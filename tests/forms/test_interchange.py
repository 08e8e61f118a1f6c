"""Form files (forms.interchange): a round trip keeps the form exactly; everything else is
refused with every reason in Japanese, and nothing a file holds makes load() raise
anything but that refusal."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tenohira.forms import interchange, library
from tenohira.forms.interchange import FormFileError, dump, load

SCHEMA = library.get("juminhyo").schema


def document(**changes) -> dict:
    base = json.loads(dump(SCHEMA, meta={"title": "住民票", "source": "サンプル市"}))
    base.update(changes)
    return base


def encoded(doc) -> bytes:
    return json.dumps(doc, ensure_ascii=False).encode("utf-8")


def refusal(data: bytes) -> list[str]:
    with pytest.raises(FormFileError) as caught:
        load(data)
    assert caught.value.errors and all(isinstance(e, str) and e for e in caught.value.errors)
    return caught.value.errors


def test_round_trip_keeps_the_form_and_meta():
    data = dump(SCHEMA, meta={"title": "住民票の写し", "kind": "application", "source": "サンプル市"})
    loaded = load(data)
    assert loaded.schema == SCHEMA
    assert loaded.meta["title"] == "住民票の写し" and loaded.meta["source"] == "サンプル市"
    assert (loaded.kind, loaded.anonymous, loaded.format_version) == ("application", False, 1)
    assert load(dump(loaded.schema, meta=loaded.meta, exported_at=None)).schema == SCHEMA
    text = data.decode("utf-8")
    assert "住民票" in text and "\\u" not in text  # readable Japanese, not escapes
    assert json.loads(text)["format"] == "tenohira-form"


def test_a_bom_is_accepted():
    assert load(b"\xef\xbb\xbf" + dump(SCHEMA)).schema == SCHEMA


@pytest.mark.django_db
def test_dump_of_a_definition_names_its_procedure_and_refuses_a_form_with_problems():
    from tenohira.catalog.models import Department, Procedure, Section
    from tenohira.forms import services

    section = Section.objects.create(department=Department.objects.create(name="市民部"), name="市民課")
    procedure = Procedure.objects.create(code="JMH", section=section, name="住民票の写しの交付請求")
    with pytest.raises(FormFileError, match="公開中の版がありません"):
        dump(services.start_working_copy(procedure, SCHEMA, user=None))
    version, _created = services.publish(procedure, SCHEMA)
    definition = version.definition
    loaded = load(dump(definition))
    assert loaded.meta["procedure"] == {"code": "JMH", "name": "住民票の写しの交付請求"}
    assert loaded.schema == SCHEMA and load(dump(version)).schema == SCHEMA
    broken = json.loads(json.dumps(SCHEMA))
    broken["steps"][0]["fields"].append({"key": "email", "type": "email", "label": "重複"})
    services.start_working_copy(procedure, broken, user=None)
    definition.refresh_from_db()
    with pytest.raises(FormFileError) as caught:
        dump(definition, working=True)
    assert any("重複" in e for e in caught.value.errors)
    assert load(dump(definition)).schema == SCHEMA  # the published version is still there


@pytest.mark.parametrize(("data", "expected"), [
    (b"", "ファイルが空です"),
    (b"\xff\xfe{\x00}\x00", "UTF-8 ではありません"),
    (b"{\"format\": \"tenohira-form\",}", "JSON として読み取れません（1 行"),
    (b"[1, 2, 3]", "JSON のオブジェクトではありません"),
    (b'{"format": "tenohira-form", "format": "x"}', "同じ名前の項目が1つのオブジェクトに2回あります: format"),
    (b'{"a": NaN}', "NaN は JSON の数ではありません"),
    (b'{"a": ' + b"9" * 40 + b"}", "30 桁を超える数"),
    (b"[" * 5000 + b"]" * 5000, "入れ子が深すぎます"),
    (b'{"a": 1, "b": "' + "あ".encode() * 30000 + b'"}', "長すぎる文字列"),
    (b" " * (interchange.MAX_BYTES + 1), "ファイルが大きすぎます"),
])
def test_unreadable_files_are_refused_with_the_reason(data, expected):
    errors = refusal(data)
    assert any(expected in e for e in errors), errors


def test_another_format_or_a_newer_version_is_refused():
    errors = refusal(encoded({"format": "ms-forms", "version": 3}))
    assert any("format が「tenohira-form」ではありません。このファイルは「ms-forms」" in e for e in errors)
    errors = refusal(encoded(document(format_version=2)))
    assert errors == ["このファイルは新しい形式（第2版）で書かれています。この版のてのひらが読めるのは第1版までです。"
                      "てのひらを更新してから読み込んでください。"]
    for version in (0, -1, "1", 1.0, True, None):
        errors = refusal(encoded(document(format_version=version)))
        assert any("format_version" in e for e in errors), (version, errors)


def test_every_reason_is_listed_at_once():
    doc = document()
    del doc["exported_at"]
    doc["extra"] = 1
    doc["meta"] = {"title": "", "kind": "poll", "anonymous": "yes", "procedure": {"code": 1}, "colour": "red"}
    form = doc["form"]
    form["steps"][0]["fields"][0]["type"] = "signature_pad"
    form["steps"][1]["fields"].append({"key": "copies", "type": "text", "label": "重複"})
    form["steps"][1]["fields"].append({"key": "bad", "type": "text", "label": "条件", "show_if": {"field": "nowhere", "equals": 1}})
    errors = refusal(encoded(doc))
    wanted = [
        "必要な項目がありません: exported_at",
        "知らない項目があります: extra",
        "meta に知らない項目があります: colour",
        "meta の title（フォームの名前）は 200 文字以内の文字列です。",
        "meta の kind「poll」は使えません。application（申請）か survey（アンケート）です。",
        "meta の anonymous（匿名で回答）は true か false です。",
        "meta の procedure（書き出した手続き）は code と name の文字列だけを持つオブジェクトです。",
        "不明な項目の種類「signature_pad」",
        "key「copies」が重複しています",
    ]
    for text in wanted:
        assert any(text in e for e in errors), (text, errors)


def test_missing_everything_is_listed():
    errors = refusal(encoded({"format": "tenohira-form", "format_version": 1}))
    assert any("必要な項目がありません: exported_at、form、meta" in e for e in errors)
    errors = refusal(encoded(document(meta={})))
    assert "meta に必要な項目がありません: title、kind、anonymous" in errors
    errors = refusal(encoded(document(form=[])))
    assert "form（フォームの定義）は JSON のオブジェクトです。" in errors


def test_schema_problems_are_the_parsers_list():
    doc = document()
    doc["form"]["steps"] = []
    assert refusal(encoded(doc)) == ["steps（ページ）が1つもありません。"]
    doc = document()
    doc["form"]["email_field"] = "copies"
    assert any("email_field「copies」" in e for e in refusal(encoded(doc)))
    doc = document()
    doc["form"]["you_need"] = "マイナンバーカード"
    doc["form"]["minutes"] = "10分"
    errors = refusal(encoded(doc))
    assert "form の minutes は整数（分）です。" in errors and "form の you_need（用意するもの）は文字列のリストです。" in errors


def test_anonymous_only_for_a_survey():
    doc = document()
    doc["meta"]["anonymous"] = True
    assert "匿名で回答できるのはアンケート（kind: survey）だけです。" in refusal(encoded(doc))
    doc["meta"]["kind"] = "survey"
    assert load(encoded(doc)).anonymous is True


def test_counts_are_bounded_before_the_schema_is_read():
    doc = document()
    doc["form"]["steps"] = [{"key": f"s{i}", "title": "ページ", "fields": [{"key": f"f{i}", "type": "text", "label": "項目"}]}
                            for i in range(interchange.MAX_STEPS + 1)]
    assert any("ページが多すぎます" in e for e in refusal(encoded(doc)))
    doc = document()
    doc["form"]["steps"] = [{"key": f"s{i}", "title": "ページ", "fields": [
        {"key": f"f{i}_{j}", "type": "text", "label": "項目"} for j in range(11)]} for i in range(95)]
    assert any("項目が多すぎます（1,045 項目" in e for e in refusal(encoded(doc)))
    doc = document()
    doc["form"]["steps"][0]["fields"][0]["choices"] = [{"value": str(i), "label": str(i)} for i in range(1001)]
    assert any("選択肢が多すぎる項目" in e for e in refusal(encoded(doc)))


# --- fuzz: nothing but the refusal ---------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=30,
)
FIELD_KEYS = ["key", "type", "label", "required", "show_if", "required_if", "choices", "fields", "min", "max",
              "expression", "standard", "prefill", "accept", "max_length", "text"]
field_like = st.dictionaries(st.sampled_from(FIELD_KEYS), json_values | st.sampled_from(
    ["text", "choice", "group", "computed", "name", "file", "a", {"field": "a", "equals": 1}, {"mul": [{"field": "a"}, 2]}]
), max_size=6)
form_like = st.fixed_dictionaries({"title": json_values | st.just("題名"), "steps": st.lists(
    st.fixed_dictionaries({"key": json_values | st.just("s"), "title": json_values, "fields": st.lists(field_like, max_size=4)}),
    max_size=3)}, optional={"email_field": json_values, "you_need": json_values, "minutes": json_values,
                            "consent": json_values, "signature": json_values, "intro": json_values})
documents = st.fixed_dictionaries({}, optional={
    "format": st.just("tenohira-form") | json_values, "format_version": st.just(1) | json_values,
    "exported_at": st.just("2025-06-01T10:00:00+09:00") | json_values, "form": form_like | json_values,
    "meta": st.fixed_dictionaries({}, optional={"title": json_values | st.just("題"), "kind": st.sampled_from(["survey", "application", "x"]),
                                                "anonymous": json_values, "procedure": json_values}) | json_values,
})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_fuzz_documents_only_ever_load_or_refuse(doc):
    try:
        loaded = load(encoded(doc))
    except FormFileError as exc:
        assert exc.errors and all(isinstance(e, str) for e in exc.errors)
    else:
        assert loaded.schema == doc["form"]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000) | st.text(max_size=500).map(lambda t: t.encode("utf-8")))
def test_fuzz_bytes_only_ever_refuse(data):
    try:
        load(data)
    except FormFileError as exc:
        assert exc.errors


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=len(dump(SCHEMA)) - 1), st.integers(min_value=0, max_value=255))
def test_fuzz_one_byte_changed_in_a_real_file(offset, value):
    data = bytearray(dump(SCHEMA))
    data[offset] = value
    try:
        load(bytes(data))
    except FormFileError as exc:
        assert exc.errors
