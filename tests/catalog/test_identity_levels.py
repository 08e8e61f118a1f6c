"""The five assurance levels through the catalog: import by label or alias, export by
label, and the round trip; the admin lists and filters them."""

from __future__ import annotations

import csv

import pytest

from tenohira.catalog.models import Identity, Procedure
from tenohira.catalog.services import ImportRejected, export_catalog, import_catalog

pytestmark = pytest.mark.django_db


def row(code: str, identity: str) -> dict:
    return {
        "手続ID": code, "部局": "市民部", "所属": "市民課", "手続名": f"手続き{code}", "申請方法": "窓口",
        "窓口": "本庁舎1階", "受付時間": "平日 8:30〜17:15", "本人確認": identity,
    }


LEVELS = {
    "NON": ("不要", Identity.NONE),
    "EML": ("メールアドレスの確認", Identity.EMAIL),
    "BIZ": ("GビズID（法人・個人事業主）", Identity.BUSINESS),
    "CIN": ("マイナンバーカードでログイン", Identity.CARD_SIGNIN),
    "CSG": ("マイナンバーカードでログインと電子署名", Identity.CARD_SIGNATURE),
}


def test_every_level_round_trips_through_export_and_import(write_csv, tmp_path):
    import_catalog(write_csv([row(code, label) for code, (label, _level) in LEVELS.items()]))
    assert {p.code: p.identity for p in Procedure.objects.all()} == {c: v for c, (_l, v) in LEVELS.items()}
    exported = tmp_path / "export.csv"
    export_catalog(str(exported))
    with exported.open(encoding="utf-8-sig", newline="") as handle:
        written = {r["手続ID"]: r["本人確認"] for r in csv.DictReader(handle)}
    assert written == {code: label for code, (label, _level) in LEVELS.items()}
    Procedure.objects.update(identity=Identity.NONE)
    import_catalog(exported)
    assert {p.code: p.identity for p in Procedure.objects.all()} == {c: v for c, (_l, v) in LEVELS.items()}


@pytest.mark.parametrize(("text", "level"), [
    ("マイナンバーカード", Identity.CARD_SIGNIN),  # what earlier files said
    ("公的個人認証", Identity.CARD_SIGNIN),
    ("電子署名", Identity.CARD_SIGNATURE),
    ("card_signature", Identity.CARD_SIGNATURE),
    ("GビズID", Identity.BUSINESS),
    ("メールアドレス", Identity.EMAIL),
])
def test_aliases_import_as_their_level(write_csv, text, level):
    import_catalog(write_csv([row("ALI", text)]))
    assert Procedure.objects.get(code="ALI").identity == level


def test_an_unknown_level_names_the_ones_that_work(write_csv):
    with pytest.raises(ImportRejected) as refused:
        import_catalog(write_csv([row("BAD", "印鑑")]))
    message = refused.value.errors[0].message
    assert "「印鑑」は使えません" in message and "マイナンバーカードでログインと電子署名" in message


def test_the_demo_catalog_asks_what_its_forms_enforce():
    """住民票 (with its form's signature for mail) asks for the card; the other demo forms
    need no sign-in, which is what their pages and forms do."""
    from tenohira.platform.demo import DEMO_CATALOG

    import_catalog(DEMO_CATALOG)
    levels = dict(Procedure.objects.filter(code__in=["HJC", "HKC", "INU", "KBK", "SDG"]).values_list("code", "identity"))
    assert levels == {"HJC": Identity.CARD_SIGNATURE, "HKC": Identity.NONE, "INU": Identity.NONE,
                      "KBK": Identity.NONE, "SDG": Identity.NONE}


def test_the_admin_lists_and_filters_by_level():
    from django.contrib import admin

    model_admin = admin.site._registry[Procedure]
    assert "identity" in model_admin.list_display and "identity" in model_admin.list_filter
    labels = [str(label) for _value, label in Procedure._meta.get_field("identity").choices]
    assert labels == [label for label, _level in LEVELS.values()]
