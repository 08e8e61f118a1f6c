"""The form builder's operations on a schema dict (the working copy, 編集中の定義).

Every function here is pure: it takes the working copy as a plain dict, changes it in
place or reads it, and raises BuilderError with a sentence a clerk can act on when the
request cannot be done. Nothing here touches the database; forms.services stores the
result (audited) and backoffice.views_forms turns buttons into calls.

The working copy may hold problems while a clerk is still working (a condition on a field
just removed, a choice list not yet filled in): `problems()` lists them in plain Japanese
with the place to fix each, and publishing refuses while any is left.

Conditions and computed values are never typed as JSON: they are built from pickers
(`build_condition`, `build_expression`) and read back into pickers
(`condition_picker`, `expression_terms`). What the pickers cannot show (a hand-written
{"all": [...]} from an older definition) is kept unchanged and described in words.
"""

from __future__ import annotations

import copy
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tenohira.forms.schema import KEY_PATTERN, SchemaError, condition_fields, parse

# --- bounds: every operation refuses past these, before any conversion --------------------

MAX_STEPS = 50
MAX_FIELDS = 400  # every field of the form, group children included
MAX_CHILDREN = 30  # fields inside one repeating group
MAX_CHOICES = 200
MAX_TERMS = 6  # terms of one computed amount (手数料)
MAX_LABEL = 200
MAX_HINT = 1000
MAX_TEXT = 5000  # guidance, intro, consent text
MAX_NUMBER_INPUT = 20  # characters of a number typed in the builder
MAX_NUMBER = 10**12

_KEY_RE = re.compile(KEY_PATTERN)

#: Field types a clerk may add, in the order the picker offers them, with their names.
TYPE_LABELS = {
    "text": "1行の文字",
    "textarea": "複数行の文字",
    "number": "数値",
    "name": "氏名（フリガナ付き）",
    "address": "住所（郵便番号から検索）",
    "postal_code": "郵便番号",
    "phone": "電話番号",
    "email": "メールアドレス",
    "date": "日付（和暦も可）",
    "choice": "選択肢から1つ",
    "multichoice": "選択肢から複数",
    "yesno": "はい・いいえ",
    "consent": "同意のチェック",
    "file": "添付ファイル",
    "group": "繰り返し項目（お子さんごと など）",
    "computed": "計算した金額（手数料 など）",
    "guidance": "説明文",
}

#: Readable names of options, for differences and messages.
OPTION_LABELS = {
    "max_length": "最大文字数", "code": "半角にそろえる", "min": "最小", "max": "最大",
    "integer": "整数のみ", "unit": "単位", "max_digits": "最大桁数", "kana": "フリガナ",
    "not_future": "未来の日付を受け付けない", "min_days_from_today": "今日から何日後以降",
    "max_days_from_today": "今日から何日後まで", "accept": "ファイルの種類",
    "max_size_mb": "ファイルの大きさの上限", "max_files": "ファイル数の上限",
    "row_label": "1件の呼び方", "add_label": "追加ボタンの文言", "text": "説明文",
    "format": "表示形式", "expression": "計算式", "hint": "補足説明", "required": "必須",
    "show_if": "表示条件", "required_if": "必須になる条件", "choices": "選択肢",
}

FILE_TYPES = {"jpeg": "JPEG", "png": "PNG", "heic": "HEIC", "pdf": "PDF"}


class BuilderError(ValueError):
    """The edit cannot be done; the message says why, in Japanese."""


@dataclass(frozen=True)
class Problem:
    message: str
    anchor: str = ""  # id of the place in the editor to fix it (field-…, step-…)
    blocking: bool = True


# --- finding things -----------------------------------------------------------------------


def new_schema(title: str) -> dict:
    """A new form with one empty page (作成を始めたところ)."""
    title = _text(title, "フォームの題名", MAX_LABEL, required=True)
    return {"title": title, "steps": [{"key": "step1", "title": "1ページ目", "fields": []}]}


def steps_of(schema: dict) -> list[dict]:
    steps = schema.get("steps")
    if not isinstance(steps, list):
        steps = schema["steps"] = []
    return steps


def walk_fields(schema: dict):
    """(path, field, step, parent) for every field, in page order (children after their group)."""
    for step in steps_of(schema):
        for fld in step.get("fields") or []:
            if not isinstance(fld, dict):
                continue
            yield fld.get("key", ""), fld, step, None
            if fld.get("type") == "group":
                for child in fld.get("fields") or []:
                    if isinstance(child, dict):
                        yield f"{fld.get('key', '')}.{child.get('key', '')}", child, step, fld


def find_step(schema: dict, key: str) -> dict:
    for step in steps_of(schema):
        if step.get("key") == key:
            return step
    raise BuilderError("そのページは見つかりません（ほかの職員が削除した可能性があります）。")


def find_field(schema: dict, path: str) -> tuple[dict, dict, dict | None]:
    """(field, step, group or None) for a path ("copies" or "children.grade")."""
    for found, fld, step, parent in walk_fields(schema):
        if found == path:
            return fld, step, parent
    raise BuilderError("その項目は見つかりません（ほかの職員が削除した可能性があります）。")


def _siblings(schema: dict, path: str) -> list[dict]:
    fld, step, parent = find_field(schema, path)
    return parent["fields"] if parent is not None else step["fields"]


def field_count(schema: dict) -> int:
    return sum(1 for _ in walk_fields(schema))


def anchor_of(path: str) -> str:
    return "field-" + path.replace(".", "--")


def label_of(fld: dict) -> str:
    if fld.get("type") == "guidance":
        text = str(fld.get("text") or "").strip().replace("\n", " ")
        return f"説明文「{text[:20]}{'…' if len(text) > 20 else ''}」" if text else "説明文"
    return str(fld.get("label") or fld.get("key") or "（名前のない項目）")


# --- keys ---------------------------------------------------------------------------------


def _romanise(label: str) -> str:
    """ASCII letters of a label: 「Email」→ email, 「ふりがな」→ furigana; kanji give ""."""
    import jaconv

    text = unicodedata.normalize("NFKC", label).strip().lower()
    text = jaconv.kata2hira(text)
    if re.search(r"[\u3041-\u3096]", text) and not re.search(r"[\u4e00-\u9fff]", text):
        text = jaconv.kana2alphabet(text)
    slug = re.sub(r"[^a-z0-9]+", "_", text).strip("_")
    if not slug or not slug[0].isalpha() or not slug.isascii():
        return ""
    return slug[:30].rstrip("_")


def make_key(label: str, used: set[str], prefix: str = "q") -> str:
    """A key for a new field or page: romanised from the label when it can be (ASCII or
    kana), otherwise prefix + number (q1, q2 …); always unique among `used` and valid."""
    base = _romanise(label or "")
    if base and _KEY_RE.match(base) and base not in used:
        return base
    if base and _KEY_RE.match(base):
        for n in range(2, 10_000):
            candidate = f"{base}_{n}"
            if candidate not in used:
                return candidate
    n = 1
    while f"{prefix}{n}" in used:
        n += 1
    return f"{prefix}{n}"


def _used_keys(schema: dict, parent: dict | None = None) -> set[str]:
    if parent is not None:
        return {c.get("key") for c in parent.get("fields") or [] if isinstance(c, dict)}
    return {f.get("key") for _, f, _, p in walk_fields(schema) if p is None}


# --- bounded conversion of what was typed -------------------------------------------------


def _text(value: Any, what: str, limit: int, *, required: bool = False) -> str:
    text = "" if value is None else str(value)
    if len(text) > limit:
        raise BuilderError(f"{what}は{limit}文字以内で入力してください（今は{len(text)}文字です）。")
    text = text.strip()
    if required and not text:
        raise BuilderError(f"{what}を入力してください。")
    return text


def _number(value: Any, what: str, *, integer: bool = True, low: float | None = None,
            high: float | None = None) -> int | float | None:
    """A number typed in the builder ("" → None); length-checked before converting."""
    from tenohira.core.text import fold_width

    text = "" if value is None else str(value)
    if len(text) > MAX_NUMBER_INPUT:
        raise BuilderError(f"{what}は{MAX_NUMBER_INPUT}文字以内の数字で入力してください。")
    text = fold_width(text).replace(",", "").strip()
    if not text:
        return None
    pattern = r"[+-]?[0-9]+" if integer else r"[+-]?[0-9]+(\.[0-9]+)?"
    if not re.fullmatch(pattern, text):
        raise BuilderError(f"{what}は{'整数' if integer else '数字'}で入力してください。")
    number: int | float = int(text) if integer or "." not in text else float(text)
    if abs(number) > MAX_NUMBER:
        raise BuilderError(f"{what}が大きすぎます。")
    if low is not None and number < low:
        raise BuilderError(f"{what}は{low}以上にしてください。")
    if high is not None and number > high:
        raise BuilderError(f"{what}は{high}以下にしてください。")
    return number


def _lines(value: Any, what: str, limit: int = MAX_TEXT, count: int = 30) -> list[str]:
    text = _text(value, what, limit)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) > count:
        raise BuilderError(f"{what}は{count}行までです。")
    return lines


# --- form settings ------------------------------------------------------------------------


def edit_form(schema: dict, data: Mapping) -> None:
    """Title, intro, what to prepare, minutes, consent and the e-mail field."""
    schema["title"] = _text(data.get("title"), "フォームの題名", MAX_LABEL, required=True)
    _set(schema, "intro", _text(data.get("intro"), "はじめの説明", MAX_TEXT))
    _set(schema, "you_need", _lines(data.get("you_need"), "用意するもの"))
    _set(schema, "minutes", _number(data.get("minutes"), "所要時間（分）", low=1, high=600))
    label = _text(data.get("consent_label"), "同意の文", MAX_LABEL)
    text = _text(data.get("consent_text"), "同意の説明", MAX_TEXT)
    if label:
        schema["consent"] = {"label": label, **({"text": text} if text else {})}
    elif text:
        raise BuilderError("同意の説明を書くときは、同意の文（チェックボックスの文）も入力してください。")
    else:
        schema.pop("consent", None)
    email = _text(data.get("email_field"), "連絡先のメールアドレス", 40)
    if email:
        fld = next((f for p, f, _s, parent in walk_fields(schema) if p == email and parent is None), None)
        if fld is None or fld.get("type") != "email":
            raise BuilderError("連絡先にはメールアドレスの項目を選んでください。")
    _set(schema, "email_field", email)


def _set(target: dict, key: str, value: Any) -> None:
    if value in (None, "", [], False):
        target.pop(key, None)
    else:
        target[key] = value


# --- steps --------------------------------------------------------------------------------


def add_step(schema: dict, title: str) -> str:
    steps = steps_of(schema)
    if len(steps) >= MAX_STEPS:
        raise BuilderError(f"ページは{MAX_STEPS}までです。")
    title = _text(title, "ページの見出し", MAX_LABEL) or f"{len(steps) + 1}ページ目"
    key = make_key(title, {s.get("key") for s in steps}, prefix="step")
    steps.append({"key": key, "title": title, "fields": []})
    return key


def edit_step(schema: dict, key: str, data: Mapping) -> None:
    step = find_step(schema, key)
    step["title"] = _text(data.get("title"), "ページの見出し", MAX_LABEL, required=True)
    _set(step, "description", _text(data.get("description"), "ページの説明", MAX_TEXT))
    condition = condition_from(schema, data, "show", before_step=key, current=step.get("show_if"))
    _set(step, "show_if", condition)


def move_step(schema: dict, key: str, delta: int) -> None:
    steps = steps_of(schema)
    step = find_step(schema, key)
    index = steps.index(step)
    target = index + (1 if delta > 0 else -1)
    if not 0 <= target < len(steps):
        return  # already first / last: nothing to do
    steps[index], steps[target] = steps[target], steps[index]


def remove_step(schema: dict, key: str) -> dict:
    steps = steps_of(schema)
    step = find_step(schema, key)
    if len(steps) == 1:
        raise BuilderError("最後の1ページは削除できません。フォームには少なくとも1ページが必要です。")
    steps.remove(step)
    return step


# --- fields -------------------------------------------------------------------------------


def add_field(schema: dict, step_key: str, ftype: str, label: str, *, group: str = "") -> str:
    """Add a field at the end of a page (or of a repeating group); returns its path."""
    if ftype not in TYPE_LABELS:
        raise BuilderError("項目の種類を選んでください。")
    if field_count(schema) >= MAX_FIELDS:
        raise BuilderError(f"項目はフォーム全体で{MAX_FIELDS}までです。")
    label = _text(label, "項目名", MAX_LABEL)
    step = find_step(schema, step_key)
    parent = None
    if group:
        parent, _step, grandparent = find_field(schema, group)
        if parent.get("type") != "group" or grandparent is not None:
            raise BuilderError("繰り返し項目の中にだけ追加できます。")
        if ftype == "group":
            raise BuilderError("繰り返し項目の中に繰り返し項目は置けません。")
        if len(parent.get("fields") or []) >= MAX_CHILDREN:
            raise BuilderError(f"1つの繰り返し項目に入れられる項目は{MAX_CHILDREN}までです。")
    if not label and ftype != "guidance":
        label = TYPE_LABELS[ftype].split("（")[0]
    key = make_key(label, _used_keys(schema, parent))
    fld: dict[str, Any] = {"key": key, "type": ftype}
    if ftype == "guidance":
        fld["text"] = label or "ここに説明を書きます。"
    else:
        fld["label"] = label
    if ftype in {"choice", "multichoice"}:
        fld["choices"] = [{"value": "c1", "label": "選択肢1"}, {"value": "c2", "label": "選択肢2"}]
    elif ftype == "group":
        fld.update(min=1, max=10, row_label=label, fields=[{"key": "q1", "type": "text", "label": "項目1"}])
    elif ftype == "computed":
        fld.update(format="yen", expression=0)
    elif ftype == "consent":
        fld["required"] = True
    if parent is not None:
        parent.setdefault("fields", []).append(fld)
        return f"{parent['key']}.{key}"
    step.setdefault("fields", []).append(fld)
    return key


def move_field(schema: dict, path: str, delta: int) -> None:
    """Up or down by one; past the first or last field of a page it goes on to the end of
    the page before or the start of the page after (a group's children stay inside)."""
    fld, step, parent = find_field(schema, path)
    siblings = _siblings(schema, path)
    index = siblings.index(fld)
    target = index + (1 if delta > 0 else -1)
    if 0 <= target < len(siblings):
        siblings[index], siblings[target] = siblings[target], siblings[index]
        return
    if parent is not None:
        return
    steps = steps_of(schema)
    neighbour = steps.index(step) + (1 if delta > 0 else -1)
    if not 0 <= neighbour < len(steps):
        return
    siblings.remove(fld)
    other = steps[neighbour].setdefault("fields", [])
    if delta > 0:
        other.insert(0, fld)
    else:
        other.append(fld)


def move_field_to(schema: dict, path: str, step_key: str, position: int) -> None:
    """Drag and drop: put a top-level field at `position` (0-based) of a page."""
    fld, _step, parent = find_field(schema, path)
    if parent is not None:
        raise BuilderError("繰り返し項目の中の項目は、その中でだけ並べ替えられます。")
    target = find_step(schema, step_key)
    _siblings(schema, path).remove(fld)
    fields = target.setdefault("fields", [])
    fields.insert(max(0, min(position, len(fields))), fld)


def remove_field(schema: dict, path: str) -> dict:
    fld, _step, _parent = find_field(schema, path)
    _siblings(schema, path).remove(fld)
    if schema.get("email_field") == path:
        schema.pop("email_field")
    return fld


def set_label(schema: dict, path: str, label: str) -> None:
    """Inline editing of a label only (the editor's list)."""
    fld, _step, _parent = find_field(schema, path)
    if fld.get("type") == "guidance":
        fld["text"] = _text(label, "説明文", MAX_TEXT, required=True)
    else:
        fld["label"] = _text(label, "項目名", MAX_LABEL, required=True)


def edit_field(schema: dict, path: str, data: Mapping) -> None:
    """Apply the field page's inputs (a QueryDict or any mapping with get/getlist).

    Checks everything first on a copy, so a refused edit changes nothing."""
    fld, _step, parent = find_field(schema, path)
    updated = copy.deepcopy(fld)
    ftype = updated["type"]
    if ftype == "guidance":
        updated["text"] = _text(data.get("text"), "説明文", MAX_TEXT, required=True)
        _set(updated, "label", _text(data.get("label"), "見出し", MAX_LABEL))
    else:
        updated["label"] = _text(data.get("label"), "項目名", MAX_LABEL, required=True)
    _set(updated, "hint", _text(data.get("hint"), "補足説明", MAX_HINT))
    if ftype not in {"guidance", "computed", "group"}:
        _set(updated, "required", data.get("required") in ("1", "on", "true", True))
        _set(updated, "required_if", condition_from(schema, data, "req", before=path, current=fld.get("required_if")))
    _set(updated, "show_if", condition_from(schema, data, "show", before=path, current=fld.get("show_if")))
    _type_options(schema, updated, data, path)
    fld.clear()
    fld.update(updated)


def _flag(data: Mapping, name: str) -> bool:
    return data.get(name) in ("1", "on", "true", True)


def _type_options(schema: dict, fld: dict, data: Mapping, path: str) -> None:
    ftype = fld["type"]
    if ftype in {"text", "textarea"}:
        from tenohira.forms.fields import MAX_INPUT_LENGTH

        _set(fld, "max_length", _number(data.get("max_length"), "最大文字数", low=1, high=MAX_INPUT_LENGTH))
        if ftype == "text":
            _set(fld, "code", _flag(data, "code"))
    elif ftype == "number":
        integer = _flag(data, "integer")
        low = _number(data.get("min"), "最小値", integer=integer)
        high = _number(data.get("max"), "最大値", integer=integer)
        if low is not None and high is not None and low > high:
            raise BuilderError("最小値は最大値以下にしてください。")
        _set(fld, "min", low)
        _set(fld, "max", high)
        fld["integer"] = integer
        _set(fld, "unit", _text(data.get("unit"), "単位", 10))
    elif ftype == "name":
        fld["kana"] = _flag(data, "kana")
    elif ftype == "date":
        _set(fld, "not_future", _flag(data, "not_future"))
        low = _number(data.get("min_days_from_today"), "今日から何日後以降", low=-36500, high=36500)
        high = _number(data.get("max_days_from_today"), "今日から何日後まで", low=-36500, high=36500)
        if low is not None and high is not None and low > high:
            raise BuilderError("受け付ける日付の始まりは終わり以前にしてください。")
        _set(fld, "min_days_from_today", low)
        _set(fld, "max_days_from_today", high)
    elif ftype in {"choice", "multichoice"}:
        fld["choices"] = choices_from(fld.get("choices") or [], data)
        if ftype == "multichoice":
            low = _number(data.get("min"), "選べる数の最小", low=0, high=MAX_CHOICES)
            high = _number(data.get("max"), "選べる数の最大", low=1, high=MAX_CHOICES)
            if low is not None and high is not None and low > high:
                raise BuilderError("選べる数の最小は最大以下にしてください。")
            _set(fld, "min", low)
            _set(fld, "max", high)
    elif ftype == "file":
        accept = [t for t in _getlist(data, "accept") if t in FILE_TYPES]
        if not accept:
            raise BuilderError("受け付けるファイルの種類を1つ以上選んでください。")
        fld["accept"] = accept
        fld["max_size_mb"] = _number(data.get("max_size_mb"), "ファイルの大きさの上限（MB）", low=1, high=20) or 10
        fld["max_files"] = _number(data.get("max_files"), "ファイル数の上限", low=1, high=10) or 5
    elif ftype == "group":
        from tenohira.forms.fields import GroupType

        low = _number(data.get("min"), "最低件数", low=0, high=GroupType.max_rows)
        high = _number(data.get("max"), "最大件数", low=1, high=GroupType.max_rows)
        low = 1 if low is None else low
        high = 10 if high is None else high
        if low > high:
            raise BuilderError("最低件数は最大件数以下にしてください。")
        fld["min"], fld["max"] = low, high
        _set(fld, "row_label", _text(data.get("row_label"), "1件の呼び方", 40))
        _set(fld, "add_label", _text(data.get("add_label"), "追加ボタンの文言", 40))
    elif ftype == "computed":
        fld["expression"] = (fld.get("expression") if data.get("expression_keep") == "1"
                             else expression_from(schema, data, path))
        fld["format"] = "yen" if _flag(data, "yen") else ""
        _set(fld, "format", fld["format"])


def _getlist(data: Mapping, name: str) -> list:
    if hasattr(data, "getlist"):
        return data.getlist(name)
    value = data.get(name)
    return value if isinstance(value, list) else ([] if value is None else [value])


# --- choices ------------------------------------------------------------------------------


def choices_from(current: list[dict], data: Mapping) -> list[dict]:
    """Rows of the choice table: label, value (kept when a label changes, so conditions
    keep working), and an amount (e.g. a fee per option). A row with an empty label is
    removed; the blank rows at the end add choices."""
    labels = _getlist(data, "choice_label")
    values = _getlist(data, "choice_value")
    fees = _getlist(data, "choice_fee")
    if len(labels) > MAX_CHOICES + 5:
        raise BuilderError(f"選択肢は{MAX_CHOICES}までです。")
    result: list[dict] = []
    used: set[str] = set()
    for index, raw_label in enumerate(labels):
        label = _text(raw_label, f"選択肢{index + 1}", MAX_LABEL)
        if not label:
            continue
        value = _text(values[index] if index < len(values) else "", f"選択肢{index + 1}の値", 40)
        if not value:
            value = make_key(label, used | {str(c.get("value")) for c in current}, prefix="c")
        if value in used:
            raise BuilderError(f"選択肢「{label}」の値「{value}」が、ほかの選択肢と重複しています。")
        used.add(value)
        choice: dict[str, Any] = {"value": value, "label": label}
        old = next((c for c in current if str(c.get("value")) == value), None)
        if old:  # keep what the builder does not edit (hint, other amounts)
            choice = {**old, **choice}
        fee = _number(fees[index] if index < len(fees) else "", f"選択肢「{label}」の金額", low=0)
        if fee is None:
            choice.pop("fee", None)
        else:
            choice["fee"] = fee
        result.append(choice)
    if len(result) > MAX_CHOICES:
        raise BuilderError(f"選択肢は{MAX_CHOICES}までです。")
    return result


# --- conditions: picked from earlier fields -----------------------------------------------

CONDITION_TYPES = {"choice", "multichoice", "yesno", "number", "text", "textarea", "date", "email",
                   "phone", "postal_code", "consent"}


def condition_sources(schema: dict, *, before: str = "", before_step: str = "") -> list[dict]:
    """Fields a condition may read: those that come before `before` (a field path) in the
    form, or on pages before `before_step`. For a field inside a group, its earlier
    siblings too. Each: {path, label, type, choices: [(value, label)]}."""
    sources = []
    for path, fld, step, parent in walk_fields(schema):
        if before_step and step.get("key") == before_step:
            break
        if before and path == before:
            break
        if parent is not None and not (before and before.startswith(f"{parent.get('key')}.")):
            continue  # a row's field is only readable from inside the same row
        if fld.get("type") not in CONDITION_TYPES:
            continue
        key = fld.get("key") if parent is not None else path
        sources.append({"path": key, "label": label_of(fld), "type": fld.get("type"), "choices": _choices_of(fld)})
    return sources


def _choices_of(fld: dict) -> list[tuple[str, str]]:
    if fld.get("type") == "yesno":
        return [("yes", "はい"), ("no", "いいえ")]
    if fld.get("type") == "consent":
        return [("yes", "チェックあり")]
    return [(str(c.get("value")), str(c.get("label"))) for c in fld.get("choices") or [] if isinstance(c, dict)]


def build_condition(sources: list[dict], source: str, op: str, values: list[str]) -> dict | None:
    """{"field": …, "equals" | "in" | "contains" | "answered": …} from the picker."""
    if not source or op in ("", "none"):
        return None
    found = next((s for s in sources if s["path"] == source), None)
    if found is None:
        raise BuilderError("条件には、この項目より前にある項目だけを選べます。")
    if op == "answered":
        return {"field": source, "answered": True}
    if op != "is":
        raise BuilderError("条件の種類を選んでください。")
    allowed = dict(found["choices"])
    chosen = [v for v in values if v in allowed]
    if not allowed:
        raise BuilderError(f"「{found['label']}」は選択肢のない項目です。「答えがあるとき」を選んでください。")
    if not chosen:
        raise BuilderError(f"「{found['label']}」のどの答えのときか、1つ以上選んでください。")
    if found["type"] in {"yesno", "consent"}:
        if len(chosen) == 2:
            return {"field": source, "answered": True}
        return {"field": source, "equals": chosen[0] == "yes"}
    if found["type"] == "multichoice":
        parts = [{"field": source, "contains": v} for v in chosen]
        return parts[0] if len(parts) == 1 else {"any": parts}
    if len(chosen) == 1:
        return {"field": source, "equals": chosen[0]}
    return {"field": source, "in": chosen}


def condition_from(schema: dict, data: Mapping, prefix: str, *, before: str = "", before_step: str = "",
                   current: Any = None) -> dict | None:
    """The condition a picker posted (`<prefix>_source`, `_op`, `_value`), or `current`
    (the stored one) when the picker showed a condition it cannot edit (`_keep`)."""
    if data.get(f"{prefix}_keep") == "1":
        return current
    sources = condition_sources(schema, before=before, before_step=before_step)
    return build_condition(sources, _text(data.get(f"{prefix}_source"), "条件の項目", 80),
                           _text(data.get(f"{prefix}_op"), "条件の種類", 20), _getlist(data, f"{prefix}_value")[:MAX_CHOICES])


def condition_picker(condition: Any) -> dict | None:
    """The picker's state for a stored condition, or None when it is one the picker cannot
    show (combined with all / not …): it is then kept and described in words."""
    if condition is None:
        return {"source": "", "op": "", "values": []}
    if not isinstance(condition, dict):
        return None
    if "any" in condition and isinstance(condition["any"], list) and condition["any"]:
        parts = condition["any"]
        if all(isinstance(p, dict) and set(p) == {"field", "contains"} for p in parts) and len({p["field"] for p in parts}) == 1:
            return {"source": parts[0]["field"], "op": "is", "values": [str(p["contains"]) for p in parts]}
        return None
    if "field" not in condition or len(condition) != 2:
        return None
    source = condition["field"]
    if "answered" in condition:
        return {"source": source, "op": "answered", "values": []}
    if "equals" in condition:
        value = condition["equals"]
        if isinstance(value, bool):
            value = "yes" if value else "no"
        return {"source": source, "op": "is", "values": [str(value)]}
    if "in" in condition and isinstance(condition["in"], list):
        return {"source": source, "op": "is", "values": [str(v) for v in condition["in"]]}
    if "contains" in condition:
        return {"source": source, "op": "is", "values": [str(condition["contains"])]}
    return None


def describe_condition(schema: dict, condition: Any) -> str:
    """「「犬を飼っていますか」が「はい」のとき」 — conditions in words."""
    if not condition:
        return ""
    if not isinstance(condition, dict):
        return "読み取れない条件"
    fields = {p: f for p, f, _s, _parent in walk_fields(schema)}
    fields.update({p.split(".", 1)[1]: f for p, f in list(fields.items()) if "." in p})

    def name(key: str) -> str:
        fld = fields.get(key)
        return f"「{label_of(fld)}」" if fld else f"（削除された項目「{key}」）"

    def value_label(key: str, value: Any) -> str:
        fld = fields.get(key)
        if isinstance(value, bool):
            return "はい" if value else "いいえ"
        labels = dict(_choices_of(fld)) if fld else {}
        return labels.get(str(value), str(value))

    if "all" in condition or "any" in condition:
        parts = [describe_condition(schema, p) for p in (condition.get("all") or condition.get("any") or [])]
        joiner = "、かつ" if "all" in condition else "、または"
        return joiner.join(p.removesuffix("とき") for p in parts) + "とき"
    if "not" in condition:
        return f"次に当てはまらないとき: {describe_condition(schema, condition['not'])}"
    key = condition.get("field", "")
    if "answered" in condition:
        return f"{name(key)}に答えがあるとき"
    if "equals" in condition:
        return f"{name(key)}が「{value_label(key, condition['equals'])}」のとき"
    if "in" in condition:
        values = "」か「".join(value_label(key, v) for v in condition.get("in") or [])
        return f"{name(key)}が「{values}」のとき"
    if "contains" in condition:
        return f"{name(key)}で「{value_label(key, condition['contains'])}」を選んだとき"
    return "読み取れない条件"


# --- computed amounts: built from terms ---------------------------------------------------
# A term is one of:
#   field × amount     {"mul": [{"field": "copies"}, 300]}  (amount empty: the number itself)
#   option amount      {"option": ["item", "fee"]}, optionally × a number field
#   rows × amount      {"mul": [{"count": "children"}, 500]}
#   fixed amount       500
# The amount is the sum of its terms.

TERM_KINDS = {"field": "数値の項目 × 金額", "option": "選んだ選択肢の金額", "count": "繰り返しの件数 × 金額",
              "constant": "固定の金額"}


def term_sources(schema: dict, path: str) -> dict[str, list[dict]]:
    """What each kind of term may read: number fields, choice fields with amounts, groups."""
    found: dict[str, list[dict]] = {"field": [], "option": [], "count": []}
    for other, fld, _step, parent in walk_fields(schema):
        if other == path or parent is not None:
            continue
        ftype = fld.get("type")
        entry = {"path": other, "label": label_of(fld)}
        if ftype in {"number", "computed"}:
            found["field"].append(entry)
        elif ftype in {"choice"} and any(isinstance(c, dict) and "fee" in c for c in fld.get("choices") or []):
            found["option"].append(entry)
        elif ftype == "group":
            found["count"].append(entry)
    return found


def expression_from(schema: dict, data: Mapping, path: str) -> Any:
    kinds = _getlist(data, "term_kind")[:MAX_TERMS + 2]
    sources = _getlist(data, "term_field")
    amounts = _getlist(data, "term_amount")
    times = _getlist(data, "term_times")
    terms = []
    for index, kind in enumerate(kinds):
        if not kind:
            continue
        terms.append({
            "kind": kind, "field": sources[index] if index < len(sources) else "",
            "amount": amounts[index] if index < len(amounts) else "",
            "times": times[index] if index < len(times) else "",
        })
    return build_expression(schema, path, terms)


def build_expression(schema: dict, path: str, terms: list[dict]) -> Any:
    if len(terms) > MAX_TERMS:
        raise BuilderError(f"計算式の項は{MAX_TERMS}つまでです。")
    sources = term_sources(schema, path)
    parts: list[Any] = []
    for number, term in enumerate(terms, start=1):
        kind = term.get("kind")
        if kind not in TERM_KINDS:
            raise BuilderError(f"計算式の{number}つ目の種類を選んでください。")
        amount = _number(term.get("amount"), f"計算式の{number}つ目の金額", integer=False, low=-MAX_NUMBER, high=MAX_NUMBER)
        if kind == "constant":
            if amount is None:
                raise BuilderError(f"計算式の{number}つ目の金額を入力してください。")
            parts.append(amount)
            continue
        source = term.get("field") or ""
        if source not in {s["path"] for s in sources[kind]}:
            raise BuilderError(f"計算式の{number}つ目の項目を選んでください（{TERM_KINDS[kind]}）。")
        if kind == "field":
            read: Any = {"field": source}
        elif kind == "count":
            read = {"count": source}
        else:
            read = {"option": [source, "fee"]}
            times = term.get("times") or ""
            if times:
                if times not in {s["path"] for s in sources["field"]}:
                    raise BuilderError(f"計算式の{number}つ目の「×」には数値の項目を選んでください。")
                read = {"mul": [read, {"field": times}]}
        parts.append(read if amount is None or kind == "option" else {"mul": [read, amount]})
    if not parts:
        return 0
    return parts[0] if len(parts) == 1 else {"add": parts}


def expression_terms(expression: Any) -> list[dict] | None:
    """The picker's terms for a stored expression, or None when it is one the picker cannot
    show (a sum over a group's rows …): it is then kept and described in words."""
    parts = expression["add"] if isinstance(expression, dict) and set(expression) == {"add"} else [expression]
    terms = []
    for part in parts:
        term = _term(part)
        if term is None:
            return None
        if term:
            terms.append(term)
    return terms


def _term(part: Any) -> dict | None:
    if isinstance(part, int | float) and not isinstance(part, bool):
        return {"kind": "constant", "field": "", "amount": _plain(part), "times": ""} if part else {}
    if not isinstance(part, dict) or len(part) != 1:
        return None
    (operator, argument), = part.items()
    if operator == "field" and isinstance(argument, str):
        return {"kind": "field", "field": argument, "amount": "", "times": ""}
    if operator == "count" and isinstance(argument, str):
        return {"kind": "count", "field": argument, "amount": "", "times": ""}
    if operator == "option" and isinstance(argument, list) and len(argument) == 2 and argument[1] == "fee":
        return {"kind": "option", "field": argument[0], "amount": "", "times": ""}
    if operator == "mul" and isinstance(argument, list) and len(argument) == 2:
        first, second = argument
        inner = _term(first)
        if inner and inner["kind"] in {"field", "count"} and isinstance(second, int | float):
            return {**inner, "amount": _plain(second)}
        if (inner and inner["kind"] == "option" and isinstance(second, dict)
                and set(second) == {"field"} and isinstance(second["field"], str)):
            return {**inner, "times": second["field"]}
    return None


def _plain(number: int | float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


def describe_expression(schema: dict, expression: Any) -> str:
    """「「通数」× 300 ＋ 固定 200」 — a computed amount in words."""
    fields = {p: f for p, f, _s, _parent in walk_fields(schema)}

    def name(key: str) -> str:
        fld = fields.get(key) or fields.get(key.split(".")[-1])
        return f"「{label_of(fld)}」" if fld else f"（削除された項目「{key}」）"

    def words(node: Any) -> str:
        if isinstance(node, int | float) and not isinstance(node, bool):
            return f"{_plain(node)}"
        if not isinstance(node, dict) or len(node) != 1:
            return "?"
        (operator, argument), = node.items()
        if operator == "add":
            return " ＋ ".join(words(p) for p in argument)
        if operator == "mul":
            return " × ".join(words(p) for p in argument)
        if operator == "field":
            return name(argument)
        if operator == "count":
            return f"{name(argument)}の件数"
        if operator == "option":
            return f"{name(argument[0])}で選んだものの金額"
        if operator == "sum_over":
            return f"{name(argument[0])}の各件の（{words(argument[1])}）の合計"
        return "?"

    return words(expression)


# --- problems -----------------------------------------------------------------------------

# parse() messages that problems() already says in plainer words.
_COVERED = ("label（項目名）がありません", "が重複しています", "choices（選択肢）が必要", "存在しない項目",
            "fields（項目）が1つもありません", "title（", "text（説明文）が必要", "group には fields",
            "steps（ページ）が1つもありません")
_PARSE_KEY = re.compile(r"（([a-z][a-z0-9_]*)）|項目「([a-z][a-z0-9_.]*)」|ページ「([a-z][a-z0-9_]*)」")


def problems(schema: Any) -> list[Problem]:
    """Everything that stops the working copy from being published, in plain Japanese,
    each with the place to fix it; then warnings (blocking=False)."""
    found: list[Problem] = []
    if not isinstance(schema, dict):
        return [Problem("フォームの定義が読み取れません。")]
    if not str(schema.get("title") or "").strip():
        found.append(Problem("フォームの題名がありません。", "form-settings"))
    steps = steps_of(schema)
    if not steps:
        found.append(Problem("ページが1つもありません。"))
    step_keys: set[str] = set()
    for step in steps:
        anchor = f"step-{step.get('key')}"
        title = step.get("title") or step.get("key")
        if step.get("key") in step_keys:
            found.append(Problem(f"ページ「{title}」の key「{step.get('key')}」がほかのページと重複しています。", anchor))
        step_keys.add(step.get("key"))
        if not str(step.get("title") or "").strip():
            found.append(Problem("見出しのないページがあります。", anchor))
        if not step.get("fields"):
            found.append(Problem(f"ページ「{title}」に項目が1つもありません。項目を追加するか、ページを削除してください。", anchor))
    seen: dict[str, str] = {}
    all_paths = {p for p, *_ in walk_fields(schema)}
    order = [p for p, *_ in walk_fields(schema)]
    step_of = {p: s.get("key") for p, _f, s, _g in walk_fields(schema)}
    for path, fld, _step, parent in walk_fields(schema):
        anchor = anchor_of(path)
        name = label_of(fld)
        key = fld.get("key")
        scope = f"{parent.get('key')}." if parent is not None else ""
        if f"{scope}{key}" in seen:
            found.append(Problem(f"項目「{name}」の key「{key}」が「{seen[scope + str(key)]}」と重複しています。", anchor))
        seen[f"{scope}{key}"] = name
        ftype = fld.get("type")
        if ftype != "guidance" and not str(fld.get("label") or "").strip():
            found.append(Problem(f"{'繰り返し項目の中の' if parent else ''}項目名のない項目があります（{TYPE_LABELS.get(ftype, ftype)}）。", anchor))
        if ftype == "guidance" and not str(fld.get("text") or "").strip():
            found.append(Problem("説明文が空です。", anchor))
        if ftype in {"choice", "multichoice"} and not fld.get("choices"):
            found.append(Problem(f"「{name}」の選択肢が1つもありません。", anchor))
        if ftype == "group" and not fld.get("fields"):
            found.append(Problem(f"繰り返し項目「{name}」の中に項目が1つもありません。", anchor))
        if ftype == "computed" and fld.get("expression") in (None, 0):
            found.append(Problem(f"「{name}」の計算式がまだありません。", anchor, blocking=False))
        for attr, what in (("show_if", "表示条件"), ("required_if", "必須になる条件")):
            try:
                refs = condition_fields(fld.get(attr))
            except SchemaError:
                found.append(Problem(f"「{name}」の{what}が読み取れません。条件を選び直してください。", anchor))
                continue
            for ref in refs:
                target = _resolve(ref, parent, all_paths)
                if target is None:
                    found.append(Problem(f"「{name}」の{what}が、削除された（またはない）項目「{ref}」を参照しています。条件を選び直してください。", anchor))
                elif order.index(target) > order.index(path):
                    found.append(Problem(f"「{name}」の{what}が、後にある項目「{label_of(find_field(schema, target)[0])}」を参照しています。項目の順番か条件を見直してください。", anchor))
        if ftype == "computed":
            from tenohira.forms.expressions import ExpressionError, references

            try:
                refs = references(fld.get("expression"))
            except ExpressionError:
                found.append(Problem(f"「{name}」の計算式が読み取れません。", anchor))
                refs = []
            for ref in refs:
                if _resolve(ref, parent, all_paths) is None and _resolve(ref.split(".")[-1], parent, all_paths) is None:
                    found.append(Problem(f"「{name}」の計算式が、削除された（またはない）項目「{ref}」を参照しています。計算式を選び直してください。", anchor))
    for step in steps:
        try:
            refs = condition_fields(step.get("show_if"))
        except SchemaError:
            found.append(Problem(f"ページ「{step.get('title')}」の表示条件が読み取れません。", f"step-{step.get('key')}"))
            continue
        for ref in refs:
            if ref not in all_paths:
                found.append(Problem(f"ページ「{step.get('title')}」の表示条件が、削除された（またはない）項目「{ref}」を参照しています。", f"step-{step.get('key')}"))
            elif steps.index(step) <= next((i for i, s in enumerate(steps) if s.get("key") == step_of[ref]), 0):
                found.append(Problem(f"ページ「{step.get('title')}」の表示条件は、前のページの項目でしか決められません。", f"step-{step.get('key')}"))
    if not any(p.blocking for p in found):
        try:
            parse(schema)
        except SchemaError as exc:
            for message in exc.errors:
                if any(part in message for part in _COVERED):
                    continue
                match = _PARSE_KEY.search(message)
                anchor = ""
                if match and match.group(1) or (match and match.group(2)):
                    anchor = anchor_of(match.group(1) or match.group(2))
                elif match:
                    anchor = f"step-{match.group(3)}"
                found.append(Problem(message, anchor))
    if not schema.get("consent"):
        found.append(Problem("確認画面の同意の文がありません（個人情報の利用目的を示すときは設定してください）。",
                             "form-settings", blocking=False))
    return found


def _resolve(ref: str, parent: dict | None, paths: set[str]) -> str | None:
    if "." in ref:
        return ref if ref in paths else None
    if parent is not None and f"{parent.get('key')}.{ref}" in paths:
        return f"{parent.get('key')}.{ref}"
    return ref if ref in paths else None


def blocking(schema: Any) -> list[str]:
    return [p.message for p in problems(schema) if p.blocking]


# --- difference between two versions ------------------------------------------------------


def diff(old: dict | None, new: dict) -> list[str]:
    """What changed from the live version to the working copy, one sentence each."""
    if not old:
        steps = steps_of(copy.deepcopy(new))
        count = sum(1 for _ in walk_fields(new))
        return [f"新しいフォーム「{new.get('title', '')}」（{len(steps)}ページ、{count}項目）を初めて公開します。"]
    lines: list[str] = []
    if old.get("title") != new.get("title"):
        lines.append(f"フォームの題名を「{old.get('title', '')}」から「{new.get('title', '')}」に変更")
    for key, what in (("intro", "はじめの説明"), ("you_need", "用意するもの"), ("minutes", "所要時間"),
                      ("consent", "確認画面の同意"), ("email_field", "連絡先のメールアドレス")):
        if old.get(key) != new.get(key):
            lines.append(f"{what}を変更")
    old_steps = {s.get("key"): s for s in steps_of(copy.deepcopy(old))}
    new_steps = {s.get("key"): s for s in steps_of(copy.deepcopy(new))}
    for key, step in new_steps.items():
        if key not in old_steps:
            lines.append(f"ページ「{step.get('title')}」を追加")
        else:
            before = old_steps[key]
            if before.get("title") != step.get("title"):
                lines.append(f"ページ「{before.get('title')}」の見出しを「{step.get('title')}」に変更")
            if before.get("description") != step.get("description"):
                lines.append(f"ページ「{step.get('title')}」の説明を変更")
            if before.get("show_if") != step.get("show_if"):
                lines.append(_condition_change(f"ページ「{step.get('title')}」", "表示条件", new, step.get("show_if")))
    for key, step in old_steps.items():
        if key not in new_steps:
            lines.append(f"ページ「{step.get('title')}」を削除")
    common = [k for k in new_steps if k in old_steps]
    if [k for k in old_steps if k in new_steps] != common:
        lines.append("ページの順番を変更")

    old_fields = {p: (f, s, g) for p, f, s, g in walk_fields(old)}
    new_fields = {p: (f, s, g) for p, f, s, g in walk_fields(new)}
    for path, (fld, step, parent) in new_fields.items():
        where = f"繰り返し項目「{label_of(parent)}」" if parent else f"ページ「{step.get('title')}」"
        if path not in old_fields:
            lines.append(f"{where}に項目「{label_of(fld)}」を追加")
            continue
        before, before_step, _bp = old_fields[path]
        if parent is None and before_step.get("key") != step.get("key"):
            lines.append(f"項目「{label_of(fld)}」をページ「{before_step.get('title')}」から「{step.get('title')}」へ移動")
        lines.extend(_field_changes(new, before, fld))
    for path, (fld, step, parent) in old_fields.items():
        if path not in new_fields:
            where = f"繰り返し項目「{label_of(parent)}」" if parent else f"ページ「{step.get('title')}」"
            lines.append(f"{where}から項目「{label_of(fld)}」を削除")
    for key, step in new_steps.items():
        if key in old_steps:
            before = [f.get("key") for f in old_steps[key].get("fields") or [] if f.get("key") in
                      {g.get("key") for g in step.get("fields") or []}]
            after = [f.get("key") for f in step.get("fields") or [] if f.get("key") in set(before)]
            if before != after:
                lines.append(f"ページ「{step.get('title')}」の項目の順番を変更")
    return lines


def _condition_change(owner: str, what: str, schema: dict, condition: Any) -> str:
    if not condition:
        return f"{owner}の{what}をなくす"
    return f"{owner}の{what}を「{describe_condition(schema, condition)}」に変更"


def _field_changes(schema: dict, old: dict, new: dict) -> list[str]:
    lines = []
    name = label_of(new)
    if old.get("type") != new.get("type"):
        lines.append(f"「{name}」の種類を「{TYPE_LABELS.get(old.get('type'), old.get('type'))}」から「{TYPE_LABELS.get(new.get('type'), new.get('type'))}」に変更")
    if (old.get("label") or "") != (new.get("label") or "") and new.get("type") != "guidance":
        lines.append(f"「{label_of(old)}」のラベルを「{old.get('label', '')}」から「{new.get('label', '')}」に変更")
    if bool(old.get("required")) != bool(new.get("required")):
        lines.append(f"「{name}」を{'必須' if new.get('required') else '任意'}に変更")
    for attr, what in (("show_if", "表示条件"), ("required_if", "必須になる条件")):
        if old.get(attr) != new.get(attr):
            lines.append(_condition_change(f"「{name}」", what, schema, new.get(attr)))
    if old.get("type") in {"choice", "multichoice"} and new.get("type") in {"choice", "multichoice"}:
        before = {str(c.get("value")): c for c in old.get("choices") or []}
        after = {str(c.get("value")): c for c in new.get("choices") or []}
        for value, choice in after.items():
            if value not in before:
                lines.append(f"「{name}」の選択肢に「{choice.get('label')}」を追加")
            elif before[value].get("label") != choice.get("label"):
                lines.append(f"「{name}」の選択肢「{before[value].get('label')}」を「{choice.get('label')}」に変更")
            elif before[value].get("fee") != choice.get("fee"):
                lines.append(f"「{name}」の選択肢「{choice.get('label')}」の金額を{before[value].get('fee', 'なし')}から{choice.get('fee', 'なし')}に変更")
        for value, choice in before.items():
            if value not in after:
                lines.append(f"「{name}」の選択肢から「{choice.get('label')}」を削除")
        if [v for v in before if v in after] != [v for v in after if v in before]:
            lines.append(f"「{name}」の選択肢の順番を変更")
    if old.get("expression") != new.get("expression") and new.get("type") == "computed":
        lines.append(f"「{name}」の計算式を「{describe_expression(schema, new.get('expression'))}」に変更")
    if old.get("text") != new.get("text") and new.get("type") == "guidance":
        lines.append(f"{name}を変更")
    if old.get("hint") != new.get("hint"):
        lines.append(f"「{name}」の補足説明を変更")
    skip = {"key", "type", "label", "required", "show_if", "required_if", "choices", "expression", "text", "hint", "fields"}
    changed = [OPTION_LABELS.get(k, k) for k in sorted(set(old) | set(new)) if k not in skip and old.get(k) != new.get(k)]
    if changed:
        lines.append(f"「{name}」の設定（{'・'.join(changed)}）を変更")
    return lines


def working_copy_of(schema: dict | None) -> dict:
    """A deep copy to edit (so a refused edit leaves the stored copy untouched)."""
    return copy.deepcopy(schema) if schema is not None else new_schema("新しいフォーム")
