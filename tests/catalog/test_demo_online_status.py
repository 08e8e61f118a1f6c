"""The demo city tells the truth about online applications: its online badges are its
published forms plus its external online services, nothing else."""

import json

import pytest

from tenohira.catalog.models import Channel, Procedure, ProcedureChannel
from tenohira.catalog.selectors import online_procedure_ids, online_procedures, online_without_form
from tenohira.forms.services import publish
from tenohira.platform.demo import DEMO_FORMS

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo_city(sample_catalog):
    for path in sorted(DEMO_FORMS.glob("*.json")):
        publish(Procedure.objects.get(code=path.stem), json.loads(path.read_text(encoding="utf-8")))
    return sample_catalog


def test_online_badges_are_published_forms_plus_external_services(demo_city, web):
    forms = {path.stem for path in DEMO_FORMS.glob("*.json")}
    external = set(
        ProcedureChannel.objects.filter(kind=Channel.EXTERNAL, procedure__is_published=True)
        .values_list("procedure__code", flat=True)
    )
    expected = forms | external
    online = set(Procedure.objects.filter(pk__in=online_procedure_ids()).values_list("code", flat=True))
    assert online == expected
    assert online_procedures().count() == len(expected)

    # Every page of the 「オンラインで申請できる」 listing, and the badge on each result.
    shown, badges, page = set(), 0, 1
    while True:
        html = web.get("/search/", {"online": "1", "page": page}).content.decode()
        shown |= {code for code in expected if f'href="/procedures/{code}/"' in html}
        badges += html.count('badge--platform">') + html.count('badge--external">')
        if 'rel="next"' not in html:
            break
        page += 1
    assert shown == expected
    assert badges == len(expected)
    assert f"オンラインで申請できる手続きの一覧（{len(expected)}件）" in web.get("/").content.decode()


def test_procedures_marked_online_without_a_form_are_work_for_the_dx_division(demo_city, web):
    marked = set(
        ProcedureChannel.objects.filter(kind=Channel.PLATFORM).values_list("procedure__code", flat=True)
    )
    forms = {path.stem for path in DEMO_FORMS.glob("*.json")}
    todo = {p.code for p in online_without_form()}
    assert todo == marked - forms
    assert len(todo) > 100
    for code in sorted(todo)[:10]:
        html = web.get(f"/procedures/{code}/").content.decode()
        assert "24時間" not in html, code
        assert "オンラインで申請する" not in html, code
