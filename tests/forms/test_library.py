"""The template library (forms/library/*.json): every template is a valid form file, and a
resident gets through every one of them on the real pages, from the start button to the
receipt, after a clerk started a form from it and published it."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

from tenohira.applications.models import Submission
from tenohira.catalog.models import Department, Procedure, Section
from tenohira.forms import interchange, library, services
from tenohira.forms.models import FormDefinition
from tenohira.forms.schema import parse
from tests.support import form_filler

SLUGS = [t.slug for t in library.templates()]


def test_at_least_twenty_templates_in_known_categories():
    assert len(SLUGS) >= 20
    assert len(set(SLUGS)) == len(SLUGS)
    assert sorted(SLUGS) == sorted(p.stem for p in library.LIBRARY_DIR.glob("*.json"))
    categories = {t.category for t in library.templates()}
    assert categories <= set(library.CATEGORIES)
    for wanted in ("証明書の交付請求", "各種届出", "補助金・助成の申請", "イベント・講座の申込", "施設利用", "アンケート", "意見募集"):
        assert wanted in categories
    surveys = [t for t in library.templates() if t.kind == "survey"]
    assert len(surveys) >= 2 and any(t.anonymous for t in surveys)


@pytest.mark.parametrize("slug", SLUGS)
def test_template_is_a_form_file_that_parses(slug):
    raw = (library.LIBRARY_DIR / f"{slug}.json").read_bytes()
    loaded = interchange.load(raw)
    schema = parse(loaded.schema)
    template = library.get(slug)
    assert template.title and template.description and template.category
    assert len(schema.intro) > 40 and loaded.schema["you_need"]
    assert 1 <= loaded.schema["minutes"] <= 30
    assert schema.consent is not None and schema.consent.label.endswith(("同意します", "同意します。"))
    assert not any(f.type == "consent" for f in schema.all_fields())  # agreed on the check page
    fields = schema.field_map()
    if loaded.kind == "application":
        email = fields[loaded.schema["email_field"]]
        assert email.type == "email" and email.required
    if loaded.anonymous:  # nothing that names the person who answers
        assert not {f.type for f in fields.values()} & {"name", "email", "phone", "address", "file"}
    for fld in fields.values():
        if fld.type == "phone":
            assert "例: " in fld.hint
    # A copy for a clerk: changing it never changes the template.
    copy, _meta = library.load(slug)
    copy["title"] = "変えた"
    assert library.get(slug).schema["title"] != "変えた"


def test_a_fee_wherever_the_procedure_charges_one():
    with_fees = {t.slug for t in library.templates()
                 if any(f.type == "computed" for f in parse(t.schema).field_map().values())}
    assert {"juminhyo", "koseki", "zei_shomei", "sodai_gomi", "shisetsu_riyo", "kobunsho_kaiji", "shimin_koza"} <= with_fees


def _procedure(code: str, name: str) -> Procedure:
    department, _ = Department.objects.get_or_create(name="テンプレート部")
    section, _ = Section.objects.get_or_create(department=department, name="テンプレート課")
    return Procedure.objects.create(code=code, section=section, name=name)


@pytest.mark.django_db
@pytest.mark.parametrize("slug", SLUGS)
def test_every_template_runs_through_the_resident_pages(slug):
    template = library.get(slug)
    procedure = _procedure(f"T{SLUGS.index(slug):02d}", template.title)
    schema, meta = library.load(slug)
    definition = services.start_working_copy(procedure, schema, user=None, kind=meta["kind"], anonymous=meta["anonymous"])
    version, created = services.publish_working_copy(definition, user=None)
    assert created

    client = Client(HTTP_HOST="localhost")
    public_id, visited = form_filler.submit(client, procedure.code, template.schema)
    submission = Submission.objects.get(draft__public_id=public_id)
    assert submission.form_version == version
    assert visited, "no page was shown"

    # Every required question the resident was shown has its answer stored (an anonymous
    # survey keeps none of the identifying ones).
    run_steps = {s["key"]: s for s in template.schema["steps"]}
    dropped = set()
    if template.anonymous:
        dropped = {f["key"] for s in template.schema["steps"] for f in s["fields"] if f["type"] in {"name", "email", "phone", "address", "file"}}
    for key in visited:
        for fld in run_steps[key]["fields"]:
            if fld.get("required") and "show_if" not in fld and fld["key"] not in dropped:
                assert fld["key"] in submission.answers, (slug, fld["key"])
    if template.kind == "application":
        assert submission.email == "hanako@example.jp"
    else:
        assert FormDefinition.objects.get(procedure=procedure).kind == "survey"


@pytest.mark.django_db
def test_computed_fees_come_out_as_the_municipality_charges():
    # 住民票: the smallest count is 1 通 → 300円; 戸籍: two rows of the first kind (450円) → 900円.
    expected = {"juminhyo": ("fee", 300), "koseki": ("fee", 900), "sodai_gomi": ("fee", 600),
                "shisetsu_riyo": ("fee", 400), "kosodate_kyufu": ("amount", 100000), "shimin_koza": ("fee", 1000)}
    for index, (slug, (key, amount)) in enumerate(expected.items()):
        template = library.get(slug)
        procedure = _procedure(f"F{index:02d}", template.title)
        schema, meta = library.load(slug)
        definition = services.start_working_copy(procedure, schema, user=None, kind=meta["kind"])
        services.publish_working_copy(definition, user=None)
        public_id, _visited = form_filler.submit(Client(HTTP_HOST="localhost"), procedure.code, template.schema)
        assert Submission.objects.get(draft__public_id=public_id).answers[key] == amount, slug


def test_the_command_lists_every_template():
    out = StringIO()
    call_command("forms", "templates", stdout=out)
    text = out.getvalue()
    for template in library.templates():
        assert f"{template.slug}\t{template.title}" in text
    assert "■ アンケート" in text and "アンケート・匿名" in text


def test_get_refuses_names_that_are_not_templates():
    for name in ("", "../settings", "JUMINHYO", "no_such", "a" * 100, None):
        with pytest.raises(LookupError):
            library.get(name)


def test_template_files_are_what_dump_writes():
    """A template is an ordinary form file: written by dump() from its own form, it reads
    back the same (so the library can be grown with `tenohira forms export`)."""
    for template in library.templates():
        again = interchange.load(interchange.dump(template.schema, meta={
            "title": template.title, "kind": template.kind, "anonymous": template.anonymous,
            "category": template.category, "description": template.description}))
        assert again.schema == template.schema
        document = json.loads((library.LIBRARY_DIR / f"{template.slug}.json").read_text(encoding="utf-8"))
        assert again.meta["title"] == document["meta"]["title"]
