"""The form file (フォームファイル): one form definition in a documented, versioned JSON
file, so municipalities can share forms and move them between installations.

    {"format": "tenohira-form", "format_version": 1,
     "exported_at": "2025-06-01T10:00:00+09:00",
     "form": {…the schema, as docs/forms.md describes it…},
     "meta": {"title": "…", "kind": "application" | "survey", "anonymous": false,
              "source": "サンプル市",                        (optional)
              "procedure": {"code": "HJC", "name": "…"},   (optional, informational)
              "category": "…", "description": "…"}}        (optional, the template library)

`load()` is the only way in: it reads bytes from anywhere (an upload, a file someone
e-mailed, a template of this package) and either returns the form or refuses with every
reason in Japanese. It bounds the work before it does it: the size of the file first,
then the nesting depth and the number of values by a linear scan of the text, so a
hostile file costs no more than reading 2 MB, never a deep recursion or a huge number.
See docs/forms-file-format.md.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from dataclasses import dataclass
from typing import Any

from tenohira.forms.schema import FormSchema, SchemaError, parse

logger = logging.getLogger(__name__)

FORMAT = "tenohira-form"
FORMAT_VERSION = 1

#: Limits of a form file. A real form (the largest municipal form we know has about 200
#: fields) is far below every one of them; they exist so that refusing a bad file is cheap.
MAX_BYTES = 2 * 1024 * 1024
MAX_DEPTH = 24           # form → steps → step → fields → group → fields → field → condition …
MAX_CONTAINERS = 50_000  # objects and arrays in the whole file
MAX_STEPS = 100
MAX_FIELDS = 1_000       # every field, group children included
MAX_CHOICES = 1_000      # options of one choice field
MAX_STRING = 20_000      # characters of one string (a long guidance text is ~2,000)
MAX_NUMBER_DIGITS = 30

TOP_KEYS = ("format", "format_version", "exported_at", "form", "meta")
META_REQUIRED = ("title", "kind", "anonymous")
META_OPTIONAL = ("source", "procedure", "category", "description")
KINDS = {"application": "申請", "survey": "アンケート"}

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_BRACKET = re.compile(r"[\[\]{}]")


class FormFileError(ValueError):
    """The file cannot be used; `errors` lists every reason, in Japanese."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__("\n".join(errors))


@dataclass
class LoadedForm:
    schema: dict          # the form, ready for forms.services.start_working_copy / publish
    meta: dict            # title, kind, anonymous and the optional items as the file had them
    parsed: FormSchema
    format_version: int
    exported_at: str

    @property
    def kind(self) -> str:
        return self.meta["kind"]

    @property
    def anonymous(self) -> bool:
        return self.meta["anonymous"]


# --- writing ---------------------------------------------------------------------------


def dump(source, *, working: bool = False, meta: dict | None = None, exported_at: dt.datetime | None = None) -> bytes:
    """The form file of `source`: a FormDefinition (its published version, or with
    `working=True` its working copy), a FormVersion, or a schema dict. `meta` adds or
    overrides items (title, kind, anonymous, source, procedure, category, description).

    Refuses (FormFileError) a schema that does not run: every file this writes can be
    read back by load(), here or in another installation."""
    from django.conf import settings
    from django.utils import timezone

    from tenohira.forms.models import FormDefinition, FormVersion

    definition = None
    if isinstance(source, FormDefinition):
        definition = source
        if working:
            if source.working_schema is None:
                raise FormFileError(["編集中のフォームがありません。"])
            schema = source.working_schema
        else:
            version = source.published_version()
            if version is None:
                raise FormFileError(["公開中の版がありません（編集中のフォームを書き出すときは --working）。"])
            schema = version.schema
    elif isinstance(source, FormVersion):
        definition, schema = source.definition, source.schema
    elif isinstance(source, dict):
        schema = source
    else:
        raise TypeError(f"cannot write a form file of {type(source).__name__}")
    try:
        parse(schema)
    except SchemaError as exc:
        raise FormFileError(["このフォームには次の問題があるため、書き出せません。", *exc.errors]) from None

    info: dict[str, Any] = {"title": schema.get("title", ""), "kind": "application", "anonymous": False}
    if definition is not None:
        procedure = definition.procedure
        info.update(kind=definition.kind, anonymous=definition.anonymous,
                    procedure={"code": procedure.code, "name": procedure.name})
    source_name = getattr(settings, "MUNICIPALITY_NAME", "")
    if source_name:
        info["source"] = source_name
    info.update(meta or {})
    document = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "exported_at": timezone.localtime(exported_at or timezone.now()).isoformat(timespec="seconds"),
        "form": schema,
        "meta": {key: info[key] for key in (*META_REQUIRED, *META_OPTIONAL) if key in info},
    }
    return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


# --- reading ---------------------------------------------------------------------------


def load(data: bytes) -> LoadedForm:
    """Read a form file, or raise FormFileError listing every reason it cannot be used."""
    if not isinstance(data, bytes | bytearray):
        raise FormFileError(["フォームファイルを読み取れません。"])
    if len(data) > MAX_BYTES:
        raise FormFileError([f"ファイルが大きすぎます（{len(data):,} バイト）。フォームファイルは "
                             f"{MAX_BYTES // (1024 * 1024)} MB までです。"])
    if not data.strip():
        raise FormFileError(["ファイルが空です。"])
    try:
        text = bytes(data).decode("utf-8-sig")  # Windows メモ帳 may add a BOM
    except UnicodeDecodeError as exc:
        raise FormFileError([f"ファイルが UTF-8 ではありません（{exc.start + 1} バイト目）。"
                             "てのひらのフォームファイルは UTF-8 の JSON です。"]) from None
    problems = _shape_problems(text)
    if problems:
        raise FormFileError(problems)
    document = _decode(text)

    errors: list[str] = []
    if not isinstance(document, dict):
        raise FormFileError(["フォームファイルではありません（JSON のオブジェクトではありません）。"])
    if document.get("format") != FORMAT:
        found = document.get("format")
        errors.append("フォームファイルではありません（format が「tenohira-form」ではありません"
                      + (f"。このファイルは「{_short(found)}」" if isinstance(found, str) else "") + "）。")
    version = document.get("format_version")
    if "format_version" in document:
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            errors.append(f"format_version「{_short(version)}」を読み取れません（1 以上の整数です）。")
        elif version > FORMAT_VERSION:
            errors.append(f"このファイルは新しい形式（第{version}版）で書かれています。この版のてのひらが読めるのは"
                          f"第{FORMAT_VERSION}版までです。てのひらを更新してから読み込んでください。")
    missing = [key for key in TOP_KEYS if key not in document]
    if missing:
        errors.append(f"必要な項目がありません: {'、'.join(missing)}")
    unknown = [key for key in document if key not in TOP_KEYS]
    if unknown:
        errors.append(f"知らない項目があります: {'、'.join(_short(k) for k in unknown[:10])}")
    if errors and (document.get("format") != FORMAT or (isinstance(version, int) and version > FORMAT_VERSION)):
        # Another format, or a newer one: what it holds means something we cannot know.
        raise FormFileError(errors)

    exported_at = document.get("exported_at")
    if "exported_at" in document and not _is_timestamp(exported_at):
        errors.append("exported_at（書き出した日時）は 2025-06-01T10:00:00+09:00 のような日時です。")
    meta = document.get("meta")
    if "meta" in document:
        errors.extend(_meta_problems(meta))
    form = document.get("form")
    if "form" in document:
        if not isinstance(form, dict):
            errors.append("form（フォームの定義）は JSON のオブジェクトです。")
        else:
            count_problems = _count_problems(form)
            errors.extend(count_problems)
            if not count_problems:
                errors.extend(_schema_problems(form))
    if errors:
        raise FormFileError(errors)
    parsed = parse(form)
    return LoadedForm(schema=form, meta=dict(meta), parsed=parsed, format_version=version, exported_at=exported_at)


def _shape_problems(text: str) -> list[str]:
    """Depth, number of containers and string lengths, from one pass over the text with
    its strings removed: json.loads recurses once per level, so depth is bounded first."""
    problems = []
    longest = 0
    for match in _STRING.finditer(text):
        longest = max(longest, match.end() - match.start() - 2)
    if longest > MAX_STRING * 6:  # \uXXXX escapes: six characters of text per character
        problems.append(f"長すぎる文字列があります（1つの文字列は {MAX_STRING:,} 文字までです）。")
    bare = _STRING.sub('""', text)
    depth = deepest = containers = 0
    for match in _BRACKET.finditer(bare):
        if match.group() in "[{":
            depth += 1
            containers += 1
            deepest = max(deepest, depth)
            if deepest > MAX_DEPTH:
                break
        else:
            depth -= 1
    if deepest > MAX_DEPTH:
        problems.append(f"入れ子が深すぎます（{MAX_DEPTH} 段までです）。")
    if containers > MAX_CONTAINERS:
        problems.append(f"要素が多すぎます（オブジェクトと配列は合わせて {MAX_CONTAINERS:,} 個までです）。")
    return problems


def _decode(text: str) -> Any:
    duplicates: list[str] = []

    def pairs(items):
        seen: dict = {}
        for key, value in items:
            if key in seen:
                duplicates.append(key)
            seen[key] = value
        return seen

    def constant(name):
        raise ValueError(f"{name} は JSON の数ではありません")

    def integer(digits):
        if len(digits.lstrip("-")) > MAX_NUMBER_DIGITS:
            raise ValueError(f"{MAX_NUMBER_DIGITS} 桁を超える数があります")
        return int(digits)

    def real(digits):
        if len(digits) > MAX_NUMBER_DIGITS + 10:
            raise ValueError(f"{MAX_NUMBER_DIGITS} 桁を超える数があります")
        value = float(digits)
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("大きすぎる数があります")
        return value

    try:
        document = json.loads(text, object_pairs_hook=pairs, parse_constant=constant, parse_int=integer,
                              parse_float=real)
    except json.JSONDecodeError as exc:
        raise FormFileError([f"JSON として読み取れません（{exc.lineno} 行 {exc.colno} 文字目: {_json_reason(exc.msg)}）。"]) from None
    except (ValueError, RecursionError) as exc:
        raise FormFileError([f"JSON として読み取れません（{exc}）。"]) from None
    if duplicates:
        names = "、".join(dict.fromkeys(_short(k) for k in duplicates[:10]))
        raise FormFileError([f"同じ名前の項目が1つのオブジェクトに2回あります: {names}"])
    if _longest_string(document) > MAX_STRING:
        raise FormFileError([f"長すぎる文字列があります（1つの文字列は {MAX_STRING:,} 文字までです）。"])
    return document


def _longest_string(document: Any) -> int:
    """Without recursion (the depth is bounded, but a loop needs no bound at all)."""
    longest, pending = 0, [document]
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            longest = max(longest, len(value))
        elif isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return longest


_JSON_REASONS = {
    "Expecting value": "値がありません",
    "Expecting property name enclosed in double quotes": "項目名は \" で囲みます",
    "Expecting ',' delimiter": "「,」がありません",
    "Expecting ':' delimiter": "「:」がありません",
    "Unterminated string starting at": "文字列が閉じていません",
    "Extra data": "JSON の後に余分な文字があります",
    "Invalid control character at": "文字列に制御文字があります",
}


def _json_reason(message: str) -> str:
    return next((text for prefix, text in _JSON_REASONS.items() if message.startswith(prefix)), message)


def _meta_problems(meta: Any) -> list[str]:
    if not isinstance(meta, dict):
        return ["meta（フォームの情報）は JSON のオブジェクトです。"]
    problems = []
    missing = [key for key in META_REQUIRED if key not in meta]
    if missing:
        problems.append(f"meta に必要な項目がありません: {'、'.join(missing)}")
    unknown = [key for key in meta if key not in META_REQUIRED + META_OPTIONAL]
    if unknown:
        problems.append(f"meta に知らない項目があります: {'、'.join(_short(k) for k in unknown[:10])}")
    if "title" in meta and (not isinstance(meta["title"], str) or not meta["title"].strip() or len(meta["title"]) > 200):
        problems.append("meta の title（フォームの名前）は 200 文字以内の文字列です。")
    if "kind" in meta and meta["kind"] not in KINDS:
        problems.append(f"meta の kind「{_short(meta['kind'])}」は使えません。application（申請）か survey（アンケート）です。")
    if "anonymous" in meta:
        if not isinstance(meta["anonymous"], bool):
            problems.append("meta の anonymous（匿名で回答）は true か false です。")
        elif meta["anonymous"] and meta.get("kind") == "application":
            problems.append("匿名で回答できるのはアンケート（kind: survey）だけです。")
    for key in ("source", "category", "description"):
        if key in meta and (not isinstance(meta[key], str) or len(meta[key]) > 2000):
            problems.append(f"meta の {key} は 2,000 文字以内の文字列です。")
    if "procedure" in meta:
        procedure = meta["procedure"]
        if not (isinstance(procedure, dict) and set(procedure) <= {"code", "name"}
                and all(isinstance(v, str) and len(v) <= 200 for v in procedure.values())):
            problems.append("meta の procedure（書き出した手続き）は code と name の文字列だけを持つオブジェクトです。")
    return problems


def _count_problems(form: dict) -> list[str]:
    """Steps, fields and options counted before the schema parser walks them."""
    problems = []
    steps = form.get("steps")
    if isinstance(steps, list) and len(steps) > MAX_STEPS:
        problems.append(f"ページが多すぎます（{len(steps):,} ページ。{MAX_STEPS} ページまでです）。")
        return problems
    fields = 0
    widest = 0
    for step in steps if isinstance(steps, list) else []:
        for fld in step.get("fields", []) if isinstance(step, dict) and isinstance(step.get("fields"), list) else []:
            fields += 1
            if isinstance(fld, dict):
                children = fld.get("fields")
                if isinstance(children, list):
                    fields += len(children)
                    for child in children:
                        if isinstance(child, dict) and isinstance(child.get("choices"), list):
                            widest = max(widest, len(child["choices"]))
                if isinstance(fld.get("choices"), list):
                    widest = max(widest, len(fld["choices"]))
    if fields > MAX_FIELDS:
        problems.append(f"項目が多すぎます（{fields:,} 項目。{MAX_FIELDS:,} 項目までです）。")
    if widest > MAX_CHOICES:
        problems.append(f"選択肢が多すぎる項目があります（{widest:,} 個。1つの項目に {MAX_CHOICES:,} 個までです）。")
    return problems


def _schema_problems(form: dict) -> list[str]:
    problems = []
    for key, kind, what in (("intro", str, "文字列"), ("minutes", int, "整数（分）")):
        value = form.get(key)
        if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
            problems.append(f"form の {key} は{what}です。")
    you_need = form.get("you_need")
    if you_need is not None and not (isinstance(you_need, list) and all(isinstance(v, str) for v in you_need)):
        problems.append("form の you_need（用意するもの）は文字列のリストです。")
    for key in ("email_field",):
        if key in form and not isinstance(form[key], str):
            problems.append(f"form の {key} は項目の key（文字列）です。")
    if problems:
        return problems
    try:
        parse(form)
    except SchemaError as exc:
        return list(exc.errors)
    except Exception:  # a shape the parser does not expect: still a refusal, never a crash
        logger.warning("form file: the schema parser failed on an unexpected shape", exc_info=True)
        return ["フォームの定義を読み取れません（項目の書き方に誤りがあります）。"]
    email_field = form.get("email_field")
    if email_field is not None:
        found = parse(form).field_map().get(email_field)
        if found is None or found.type != "email":
            problems.append(f"email_field「{_short(email_field)}」は、フォームにあるメールアドレスの項目の key です。")
    return problems


def _is_timestamp(value: Any) -> bool:
    if not isinstance(value, str) or len(value) > 40:
        return False
    try:
        return dt.datetime.fromisoformat(value).tzinfo is not None
    except ValueError:
        return False


def _short(value: Any, limit: int = 40) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)[:limit + 1]
    return text if len(text) <= limit else text[:limit] + "…"
