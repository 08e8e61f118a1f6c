"""The standard data layout (標準レイアウト): one JSON document per submission that every
delivery kind sends and the pull API returns, the same whatever the form or its version.

A business system reads `items` by their standard names (氏名, 住所 …) and never needs to
know a form's field keys, which change from one version of a form to the next. Which
field fills which item is said per form: a field option `"standard": "氏名"`
(forms.schema.STANDARD_ITEMS), else a default by field type (a name field gives 氏名 and
氏名カナ, an address 郵便番号 and 住所, a phone 電話番号, an e-mail メールアドレス, a date
keyed birth… or filled from the card's birth date 生年月日, a choice filled from the
card's gender 性別). When several fields could fill an item, the first one answered wins
(a form asks either an organisation's representative or a person, never both).

`answers` are kept as stored, for what the standard items do not cover. `charset` lists
the characters a legacy system's character set cannot hold (CP932, JIS X 0213), so that
the receiving side can report them instead of printing 〓 on a certificate.

Layout version 1. A change that could break a reader makes version 2; adding a key does not.
"""

from __future__ import annotations

from django.utils import timezone

from tenohira.core.tabular import cp932_missing
from tenohira.forms.schema import STANDARD_ITEMS

LAYOUT_VERSION = 1
ITEM_NAMES = list(STANDARD_ITEMS)
_SPACE = "\u3000"  # 全角スペース between family and given name, as 住基 layouts write it


def document(submission, delivery=None) -> dict:
    """The document of `submission` (for `delivery`, when it is sent as one)."""
    return for_delivery(submission_document(submission), delivery)


def for_delivery(base: dict, delivery) -> dict:
    """`base` (submission_document) as sent for `delivery`: only the delivery block differs
    between the targets of one submission, so a worker sending a batch builds the rest
    once per submission. A new dict; `base` is not changed and can be shared."""
    doc = dict(base)  # the same keys in the same order; nested values are shared
    doc["delivery"] = _delivery(delivery)
    return doc


def submission_document(submission) -> dict:
    """The document without its delivery block (`"delivery": None`). Read as much of
    `submission` as is loaded: a caller sending many deliveries loads the procedure,
    section, form version and attachments for all of them at once (prefetch_related)."""
    schema = submission.form_version.parsed()
    answers = submission.answers or {}
    items = standard_items(schema, answers)
    if items.get("メールアドレス") is None and submission.email:
        items["メールアドレス"] = submission.email
    identity = submission.identity or {}
    doc = {
        "version": LAYOUT_VERSION,
        "delivery": None,
        "receipt_number": submission.receipt_number,
        "procedure": {"code": submission.procedure.code, "name": submission.procedure.name},
        "section": {"name": submission.section.name},
        "submitted_at": _local(submission.submitted_at),
        "status": submission.status,
        "status_changed_at": _local(submission.status_changed_at),
        "channel": submission.channel,
        "form_version": submission.form_version.number,
        "items": items,
        "answers": answers,
        "attachments": [
            {"field": a.field_path, "name": a.original_name, "content_type": a.content_type,
             "size": a.size, "sha256": a.sha256}
            for a in sorted(submission.attachments.all(), key=lambda a: a.pk)
        ],
        # Who vouched for the applicant and how strongly; the pairwise subject stays here.
        "identity": (
            {"level": identity.get("level", ""), "provider": identity.get("provider", ""),
             "auth_time": identity.get("auth_time")}
            if identity else None
        ),
    }
    doc["charset"] = charset_report([items, answers])
    return doc


def standard_items(schema, answers: dict) -> dict:
    """{standard item name: value or None} for every standard item."""
    items: dict[str, object] = dict.fromkeys(ITEM_NAMES)
    for name, candidates in item_sources(schema).items():
        for field in candidates:
            value = _item_value(name, field, answers.get(field.key))
            if value not in (None, ""):
                items[name] = value
                break
    return items


def item_sources(schema) -> dict[str, list]:
    """{standard item: [top-level fields that may fill it, explicit ones first]}."""
    explicit: dict[str, list] = {}
    defaults: dict[str, list] = {}
    for field in schema.all_fields():
        chosen = field.option("standard")
        if chosen is False:
            continue
        if chosen:
            names = [chosen, "氏名カナ"] if chosen == "氏名" and field.type == "name" else [chosen]
            if chosen == "住所" and field.type == "address":
                names.append("郵便番号")
            for name in names:
                explicit.setdefault(name, []).append(field)
            continue
        for name in _defaults_for(field):
            defaults.setdefault(name, []).append(field)
    return {name: explicit.get(name, []) + defaults.get(name, []) for name in ITEM_NAMES
            if explicit.get(name) or defaults.get(name)}


def _defaults_for(field) -> list[str]:
    kind = field.type
    if kind == "name":
        return ["氏名", "氏名カナ"] if field.option("kana", True) else ["氏名"]
    if kind == "address":
        return ["郵便番号", "住所"]
    if kind == "postal_code":
        return ["郵便番号"]
    if kind == "phone":
        return ["電話番号"]
    if kind == "email":
        return ["メールアドレス"]
    if kind == "date" and (field.key.startswith("birth") or field.option("prefill") == "birthdate"):
        return ["生年月日"]
    if kind == "choice" and field.option("prefill") == "gender":
        return ["性別"]
    return []


def _item_value(name: str, field, value):
    if value in (None, "", [], {}):
        return None
    if field.type == "name" and isinstance(value, dict):
        if name == "氏名カナ":
            kana = _SPACE.join(p for p in (value.get("family_kana", ""), value.get("given_kana", "")) if p)
            return kana or None
        return _SPACE.join(p for p in (value.get("family", ""), value.get("given", "")) if p) or None
    if field.type == "address" and isinstance(value, dict):
        if name == "郵便番号":
            return value.get("postal_code") or None
        line = "".join(value.get(p, "") for p in ("prefecture", "city", "town", "street"))
        building = value.get("building", "")
        return f"{line}{_SPACE}{building}" if building else line
    if field.type == "choice":
        # The label: a business system knows 男/女, not this form's value codes.
        from tenohira.forms.fields import FIELD_TYPES

        return FIELD_TYPES["choice"].labels(field).get(str(value), str(value))
    if isinstance(value, dict | list):
        return None
    return value


def charset_report(values) -> dict:
    """{"cp932": [...], "jisx0213": [...]}: each character found in `values` (strings
    anywhere inside) that the character set cannot hold, once, in order of appearance."""
    cp932: dict[str, None] = {}
    jisx0213: dict[str, None] = {}
    for text in _strings(values):
        if text.isascii():
            continue
        for char in cp932_missing(text):
            cp932.setdefault(char, None)
        for char in text:
            if char not in jisx0213 and not _in_jisx0213(char):
                jisx0213.setdefault(char, None)
    return {"cp932": list(cp932), "jisx0213": list(jisx0213)}


def _in_jisx0213(char: str) -> bool:
    if char.isascii():
        return True
    try:
        char.encode("euc_jis_2004")
    except UnicodeEncodeError:
        return False
    return True


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def _delivery(delivery) -> dict | None:
    if delivery is None:
        return None
    return {"id": str(delivery.delivery_id), "event": delivery.event, "at": _local(delivery.created_at)}


def _local(moment) -> str | None:
    return timezone.localtime(moment).isoformat() if moment else None
