"""Form definitions: a declarative schema, checked before it can be saved.

A form is a list of steps (one topic per page, GOV.UK style); a step holds fields; a
`group` field repeats its own fields (children, items). Fields and steps may be shown or
required only under a condition on earlier answers. The server evaluates every condition;
a browser may only mirror it.

Schema (JSON):

    {"title": "...", "intro": "...", "you_need": ["..."], "minutes": 10,
     "steps": [{"key": "child", "title": "お子さんについて", "show_if": COND,
                "fields": [FIELD, ...]}],
     "consent": {"label": "申請内容に誤りがないことを確認し、…に同意します", "text": "..."}}

`consent` is asked on the check-your-answers page, next to the send button: a resident
agrees to what they have just read back, never on a page before seeing their answers.

    "signature": {"required_if": COND, "note": "郵送で受け取る場合"}

`signature`: when a procedure asking for the My Number card needs the resident's
電子署名 of the submission. Without it, a procedure whose assurance is card_signature
always needs one; with it, one is needed only while `required_if` holds (absent: always),
also for a card_signin procedure. `note` says when, in the words pages use.

    FIELD = {"key": "copies", "type": "number", "label": "通数", "hint": "...",
             "required": true, "required_if": COND, "show_if": COND, ...type options}

A top-level field may be filled from the signed-in resident's identity (the four basic
items of the My Number card): `"prefill": "name" | "address" | "birthdate" | "gender"`
on a name, address, date or choice field; `"prefill_locked": true` makes what the card
gave read-only (applications.prefill).

`"standard": "氏名"` names the standard item (STANDARD_ITEMS) a top-level field fills in
the document sent to business systems (integrations.layout), where the defaults by field
type would guess wrong or not at all; `"standard": false` keeps a field out of the
defaults (a pet's date of birth is not the applicant's 生年月日).

    COND = {"field": "k", "equals": v} | {"field": "k", "in": [..]}
         | {"field": "k", "contains": v} | {"field": "k", "answered": true}
         | {"all": [COND, ...]} | {"any": [COND, ...]} | {"not": COND}

Inside a group, `field` names a sibling in the same row first, then a field outside.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

KEY_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"


class SchemaError(ValueError):
    """The definition cannot be used; `errors` lists every problem in Japanese."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__("\n".join(errors))


@dataclass
class Field:
    key: str
    type: str
    label: str
    options: dict[str, Any]
    hint: str = ""
    required: bool = False
    required_if: dict | None = None
    show_if: dict | None = None
    children: list[Field] = field(default_factory=list)  # for groups
    # Not compared or shown: a child points at its group and the group at its children,
    # so comparing (or printing) through `parent` would recurse for ever.
    parent: Field | None = field(default=None, compare=False, repr=False)

    @property
    def path(self) -> str:
        return f"{self.parent.key}.{self.key}" if self.parent else self.key

    def option(self, name: str, default: Any = None) -> Any:
        return self.options.get(name, default)


@dataclass
class Step:
    key: str
    title: str
    fields: list[Field]
    show_if: dict | None = None
    description: str = ""


@dataclass
class Consent:
    """The agreement asked on the check page (label of the checkbox, text above it)."""

    label: str
    text: str = ""


@dataclass
class Signature:
    """When the form needs the resident's 電子署名 (see the module docstring)."""

    required_if: dict | None = None
    note: str = ""


#: Identity items a field may be filled from, and the field types each fills.
PREFILL_TYPES = {"name": {"name"}, "address": {"address"}, "birthdate": {"date"}, "gender": {"choice"}}


#: Standard item names of the document sent to business systems, and the field types that
#: may fill each (integrations.layout maps a name field to 氏名 and 氏名カナ, an address to
#: 郵便番号 and 住所).
STANDARD_ITEMS = {
    "氏名": {"name", "text"},
    "氏名カナ": {"name", "text"},
    "生年月日": {"date"},
    "性別": {"choice", "text"},
    "郵便番号": {"address", "postal_code", "text"},
    "住所": {"address", "text"},
    "電話番号": {"phone", "text"},
    "メールアドレス": {"email", "text"},
    "法人名": {"text"},
}


@dataclass
class FormSchema:
    title: str
    steps: list[Step]
    intro: str = ""
    you_need: list[str] = field(default_factory=list)
    minutes: int | None = None
    raw: dict = field(default_factory=dict)
    consent: Consent | None = None
    signature: Signature | None = None

    def all_fields(self) -> list[Field]:
        """Top-level fields in step order (group children hang off their group)."""
        return [f for step in self.steps for f in step.fields]

    def field_map(self) -> dict[str, Field]:
        found: dict[str, Field] = {}
        for f in self.all_fields():
            found[f.key] = f
            for child in f.children:
                found[f"{f.key}.{child.key}"] = child
        return found

    @property
    def has_files(self) -> bool:
        return any(f.type == "file" or any(c.type == "file" for c in f.children) for f in self.all_fields())

    def step(self, key: str) -> Step | None:
        return next((s for s in self.steps if s.key == key), None)


_COMMON_KEYS = {"key", "type", "label", "hint", "required", "required_if", "show_if"}


def parse(raw: dict) -> FormSchema:
    """Build a FormSchema from its JSON, or raise SchemaError listing every problem."""
    import re

    from tenohira.forms.fields import FIELD_TYPES

    errors: list[str] = []
    if not isinstance(raw, dict):
        raise SchemaError(["定義は JSON のオブジェクトでなければなりません。"])
    title = raw.get("title")
    if not isinstance(title, str) or not title.strip():
        errors.append("title（フォームの題名）がありません。")
    raw_steps = raw.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        errors.append("steps（ページ）が1つもありません。")
        raise SchemaError(errors)

    key_re = re.compile(KEY_PATTERN)
    seen_keys: dict[str, str] = {}

    def parse_field(data: Any, where: str, parent: Field | None, scope: dict[str, str]) -> Field | None:
        if not isinstance(data, dict):
            errors.append(f"{where}: 項目はオブジェクトでなければなりません。")
            return None
        key = data.get("key")
        ftype = data.get("type")
        label = data.get("label", "")
        if not isinstance(key, str) or not key_re.match(key):
            errors.append(f"{where}: key「{key}」は英小文字で始まる英小文字・数字・_ の40文字以内にしてください。")
            return None
        where = f"{where}（{key}）"
        if key in scope:
            errors.append(f"{where}: key「{key}」が重複しています（{scope[key]} と同じ）。")
        scope[key] = where
        if ftype not in FIELD_TYPES:
            errors.append(f"{where}: 不明な項目の種類「{ftype}」です。使える種類: {'、'.join(sorted(FIELD_TYPES))}")
            return None
        if ftype != "guidance" and (not isinstance(label, str) or not label.strip()):
            errors.append(f"{where}: label（項目名）がありません。")
        for flag in ("required",):
            if flag in data and not isinstance(data[flag], bool):
                errors.append(f"{where}: {flag} は true か false です。")
        options = {k: v for k, v in data.items() if k not in _COMMON_KEYS and k != "fields"}
        fld = Field(
            key=key, type=ftype, label=label or "", options=options, hint=data.get("hint", "") or "",
            required=bool(data.get("required", False)), required_if=data.get("required_if"),
            show_if=data.get("show_if"), parent=parent,
        )
        if ftype == "group":
            if parent is not None:
                errors.append(f"{where}: 繰り返し項目（group）の中に group は置けません。")
            children_raw = data.get("fields")
            if not isinstance(children_raw, list) or not children_raw:
                errors.append(f"{where}: group には fields（繰り返す項目）が必要です。")
            else:
                child_scope: dict[str, str] = {}
                for index, child in enumerate(children_raw, start=1):
                    parsed = parse_field(child, f"{where} の {index} 番目の項目", fld, child_scope)
                    if parsed:
                        fld.children.append(parsed)
        for problem in FIELD_TYPES[ftype].check_options(fld):
            errors.append(f"{where}: {problem}")
        errors.extend(f"{where}: {problem}" for problem in _prefill_problems(fld, parent))
        errors.extend(f"{where}: {problem}" for problem in _standard_problems(fld, parent))
        return fld

    steps: list[Step] = []
    step_keys: set[str] = set()
    for index, raw_step in enumerate(raw_steps, start=1):
        where = f"{index} ページ目"
        if not isinstance(raw_step, dict):
            errors.append(f"{where}: ページはオブジェクトでなければなりません。")
            continue
        key = raw_step.get("key") or f"step{index}"
        if not isinstance(key, str) or not key_re.match(key):
            errors.append(f"{where}: key「{key}」は英小文字で始まる英小文字・数字・_ にしてください。")
            continue
        if key in step_keys:
            errors.append(f"{where}: ページの key「{key}」が重複しています。")
        step_keys.add(key)
        if not raw_step.get("title"):
            errors.append(f"{where}: title（ページの見出し）がありません。")
        fields_raw = raw_step.get("fields")
        if not isinstance(fields_raw, list) or not fields_raw:
            errors.append(f"{where}: fields（項目）が1つもありません。")
            fields_raw = []
        fields = []
        for findex, data in enumerate(fields_raw, start=1):
            parsed = parse_field(data, f"{where} の {findex} 番目の項目", None, seen_keys)
            if parsed:
                fields.append(parsed)
        steps.append(Step(key, raw_step.get("title", ""), fields, raw_step.get("show_if"), raw_step.get("description", "")))

    consent = None
    raw_consent = raw.get("consent")
    if raw_consent is not None:
        if not isinstance(raw_consent, dict) or not isinstance(raw_consent.get("label"), str) or not raw_consent["label"].strip():
            errors.append("consent（確認画面の同意）には label（チェックボックスの文）が必要です。")
        elif not isinstance(raw_consent.get("text", ""), str):
            errors.append("consent の text（同意の説明文）は文字列です。")
        else:
            consent = Consent(raw_consent["label"], raw_consent.get("text", ""))
    signature = None
    raw_signature = raw.get("signature")
    if raw_signature is not None:
        if not isinstance(raw_signature, dict) or set(raw_signature) - {"required_if", "note"}:
            errors.append("signature（電子署名）は required_if（条件）と note（説明）だけを持つオブジェクトです。")
        elif not isinstance(raw_signature.get("note", ""), str):
            errors.append("signature の note（いつ署名が必要かの説明）は文字列です。")
        else:
            signature = Signature(raw_signature.get("required_if"), raw_signature.get("note", ""))
    schema = FormSchema(
        title=title or "", steps=steps, intro=raw.get("intro", ""), you_need=list(raw.get("you_need", [])),
        minutes=raw.get("minutes"), raw=raw, consent=consent, signature=signature,
    )
    if not errors:
        errors.extend(_check_references(schema))
    if errors:
        raise SchemaError(errors)
    return schema


def _prefill_problems(fld: Field, parent: Field | None) -> list[str]:
    item = fld.options.get("prefill")
    locked = fld.options.get("prefill_locked")
    problems = []
    if locked is not None and not isinstance(locked, bool):
        problems.append("prefill_locked は true か false です。")
    if item is None:
        if locked:
            problems.append("prefill_locked には prefill（本人確認から入れる項目）が必要です。")
        return problems
    if item not in PREFILL_TYPES:
        return problems + [f"prefill「{item}」は使えません。使えるもの: {'、'.join(PREFILL_TYPES)}"]
    if fld.type not in PREFILL_TYPES[item]:
        problems.append(f"prefill「{item}」は {'・'.join(sorted(PREFILL_TYPES[item]))} の項目にだけ使えます。")
    if parent is not None:
        problems.append("prefill は繰り返し項目（group）の中では使えません。")
    return problems


def _standard_problems(fld: Field, parent: Field | None) -> list[str]:
    if "standard" not in fld.options:
        return []
    item = fld.options["standard"]
    if item is False:
        return []
    if item not in STANDARD_ITEMS:
        return [f"standard「{item}」は使えません。使えるもの: {'、'.join(STANDARD_ITEMS)}（使わない項目は false）"]
    problems = []
    if fld.type not in STANDARD_ITEMS[item]:
        problems.append(f"standard「{item}」は {'・'.join(sorted(STANDARD_ITEMS[item]))} の項目にだけ使えます。")
    if parent is not None:
        problems.append("standard は繰り返し項目（group）の中では使えません。")
    return problems


def condition_fields(condition: Any) -> list[str]:
    """The field keys a condition reads (raises SchemaError on an unknown operator)."""
    if condition is None:
        return []
    if not isinstance(condition, dict):
        raise SchemaError([f"条件 {condition!r} はオブジェクトでなければなりません。"])
    if "all" in condition or "any" in condition:
        parts = condition.get("all", condition.get("any"))
        if not isinstance(parts, list):
            raise SchemaError(["条件の all / any にはリストを指定します。"])
        return [key for part in parts for key in condition_fields(part)]
    if "not" in condition:
        return condition_fields(condition["not"])
    if "field" in condition:
        operators = set(condition) - {"field"}
        if len(operators) != 1 or not operators <= {"equals", "in", "contains", "answered"}:
            raise SchemaError([f"条件 {condition!r} の比較は equals / in / contains / answered のどれか1つです。"])
        return [condition["field"]]
    raise SchemaError([f"条件 {condition!r} を読み取れません。"])


def _check_references(schema: FormSchema) -> list[str]:
    """Conditions and computations must name existing fields, and must not loop."""
    from tenohira.forms.fields import FIELD_TYPES

    errors: list[str] = []
    fields = schema.field_map()
    graph: dict[str, set[str]] = {}

    def resolve(name: str, context: Field | None) -> str | None:
        if "." in name:  # a group row's field named from a computation over the group
            return name if name in fields else resolve(name.split(".", 1)[1], None)
        if context is not None and context.parent is not None and f"{context.parent.key}.{name}" in fields:
            return f"{context.parent.key}.{name}"
        if context is not None and context.type == "group" and f"{context.key}.{name}" in fields:
            return f"{context.key}.{name}"
        return name if name in fields else None

    def add_edges(owner: str, names: list[str], context: Field | None, what: str):
        for name in names:
            target = resolve(name, context)
            if target is None:
                errors.append(f"{owner} の{what}が、存在しない項目「{name}」を参照しています。")
            else:
                graph.setdefault(owner, set()).add(target)

    for step in schema.steps:
        try:
            add_edges(f"ページ「{step.key}」", condition_fields(step.show_if), None, "表示条件")
        except SchemaError as exc:
            errors.extend(f"ページ「{step.key}」: {e}" for e in exc.errors)
    for path, fld in fields.items():
        for attr, what in (("show_if", "表示条件"), ("required_if", "必須条件")):
            try:
                add_edges(path, condition_fields(getattr(fld, attr)), fld, what)
            except SchemaError as exc:
                errors.extend(f"項目「{path}」: {e}" for e in exc.errors)
        add_edges(path, FIELD_TYPES[fld.type].references(fld), fld, "計算式")
    if schema.signature is not None:
        try:
            add_edges("signature", condition_fields(schema.signature.required_if), None, "署名の条件")
        except SchemaError as exc:
            errors.extend(f"signature: {e}" for e in exc.errors)

    # A cycle (A shown if B, B shown if A) can never be decided: refuse it.
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycle = trail[trail.index(nxt):] + [nxt] if nxt in trail else [node, nxt]
                errors.append(f"条件または計算式が循環しています: {' → '.join(cycle)}")
            elif nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return errors
