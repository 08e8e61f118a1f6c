"""The `reservation_slot` field type: its options come from the slot source a higher app
registers (forms.extensions); forms never imports reservations."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

import tenohira.forms
from tenohira.forms import builder, extensions
from tenohira.forms.engine import FormRun
from tenohira.forms.rendering import bind_step
from tenohira.forms.schema import SchemaError, parse

SDG = json.loads((Path(tenohira.forms.__file__).resolve().parent / "demo" / "SDG.json").read_text(encoding="utf-8"))

SCHEMA = {
    "title": "収集の申込み",
    "steps": [
        {"key": "where", "title": "地区", "fields": [
            {"key": "district", "type": "choice", "label": "地区", "required": True,
             "choices": [{"value": "東地区", "label": "東地区"}, {"value": "西地区", "label": "西地区"}]},
        ]},
        {"key": "when", "title": "収集日", "fields": [
            {"key": "day", "type": "reservation_slot", "label": "収集日", "required": True,
             "resource_kind": "collection", "district_field": "district"},
        ]},
    ],
}


def run_with(district: str | None, day: str | None) -> FormRun:
    raw = {"where": {"district": [district]} if district else {}, "when": {"day": [day]} if day is not None else {}}
    return FormRun(parse(SCHEMA), raw)


def problems(run: FormRun) -> dict[str, str]:
    return {prefix: p.message for o in run.outcomes.values() for prefix, p in o.problems.items()}


@pytest.fixture
def routes(db):
    """Two districts' routes with the demo's collection days."""
    from tenohira.catalog.models import Department, Section
    from tenohira.reservations.demo import collection

    Section.objects.create(department=Department.objects.create(name="環境部"), name="３Ｒ推進課")
    collection.seed()


def test_schema_checks_the_fields_options():
    bad = copy.deepcopy(SCHEMA)
    del bad["steps"][1]["fields"][0]["resource_kind"]
    with pytest.raises(SchemaError) as refused:
        parse(bad)
    assert "resource_kind（予約対象の種類）か resource（予約対象のコード）が必要です。" in str(refused.value)
    grouped = copy.deepcopy(SCHEMA)
    grouped["steps"][1]["fields"] = [{"key": "rows", "type": "group", "label": "行", "fields": [
        {"key": "day", "type": "reservation_slot", "label": "収集日", "resource_kind": "collection"}]}]
    with pytest.raises(SchemaError) as refused:
        parse(grouped)
    assert "繰り返し項目（group）の中では使えません" in str(refused.value)


def test_without_a_slot_source_nothing_is_offered_and_nothing_accepted(monkeypatch):
    monkeypatch.setattr(extensions, "_source", None)
    fld = parse(SCHEMA).field_map()["day"]
    assert extensions.slot_options(fld, {"district": "東地区"}) == []
    assert problems(run_with("東地区", "12")) == {"day": "収集日は、いまは選べません。担当課にお問い合わせください。"}


@pytest.mark.usefixtures("routes")
def test_the_districts_free_days_are_offered_and_a_full_one_is_not():
    from tenohira.reservations.models import Slot

    schema = parse(SCHEMA)
    fld = schema.field_map()["day"]
    east = extensions.slot_options(fld, {"district": "東地区"})
    west = extensions.slot_options(fld, {"district": "西地区"})
    assert east and west and not {o.value for o in east} & {o.value for o in west}
    assert all(o.label.endswith("8:30～12:00 空き 30") and o.free == 30 for o in east)
    assert extensions.slot_options(fld, {}) == []
    Slot.objects.filter(pk=east[0].value).update(booked=30)
    Slot.objects.filter(pk=east[1].value).update(booked=29)
    again = extensions.slot_options(fld, {"district": "東地区"})
    assert east[0].value not in {o.value for o in again}
    assert again[0].value == east[1].value and again[0].label.endswith("空き 1")

    # The page lists them as radio buttons, the saved answer checked.
    run = run_with("東地区", east[1].value)
    (bound,) = bind_step(run, schema.step("when"), run.raw_by_step["when"], None, {})
    assert [c["value"] for c in bound.choices] == [o.value for o in again]
    assert [c["checked"] for c in bound.choices][:2] == [True, False]


@pytest.mark.usefixtures("routes")
def test_the_answer_is_the_slot_id_of_the_chosen_districts_route():
    fld = parse(SCHEMA).field_map()["day"]
    east = extensions.slot_options(fld, {"district": "東地区"})[0]
    west = extensions.slot_options(fld, {"district": "西地区"})[0]
    run = run_with("東地区", east.value)
    assert run.complete and run.answers["day"] == int(east.value)
    (row,) = [item for section in run.summary() for item in section["items"] if item["label"] == "収集日"]
    assert row["value"].endswith("8:30～12:00（東地区）") and "年" in row["value"]
    assert problems(run_with("東地区", west.value)) == {"day": "収集日を、表示された日から選んでください。"}
    assert problems(run_with("東地区", "abc")) == {"day": "収集日を選んでください。"}
    assert problems(run_with("東地区", "")) == {"day": "収集日を選んでください。"}
    assert problems(run_with(None, east.value)) == {
        "district": "地区を選んでください。", "day": "収集日を選ぶ前に、地区を選んでください。",
    }


def test_the_builder_keeps_the_field_and_leaves_it_out_of_its_palette():
    # A clerk cannot pick which resource it books, so the palette does not offer it
    # (docs/reservations-collection.md); a form that has one is still edited and published.
    assert "reservation_slot" not in builder.TYPE_LABELS
    with pytest.raises(builder.BuilderError):
        builder.add_field(copy.deepcopy(SDG), "collection", "reservation_slot", "収集日")
    schema = copy.deepcopy(SDG)
    assert not [p for p in builder.problems(schema) if p.blocking]
    builder.edit_field(schema, "collection_day", {"label": "収集に伺う日", "hint": "", "required": "1"})
    edited = schema["steps"][3]["fields"][0]
    assert edited["label"] == "収集に伺う日"
    assert (edited["resource_kind"], edited["district_field"]) == ("collection", "district")
    parse(schema)
