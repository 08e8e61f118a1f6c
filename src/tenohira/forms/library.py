"""The template library (テンプレート): ready-made municipal forms a clerk starts from.

Each template is a form file (forms.interchange, docs/forms-file-format.md) in
`forms/library/<slug>.json`, read through the same `load()` as an uploaded file, so a
template is exactly what one municipality could send another. Its meta carries the
gallery's category and description; `kind: survey` marks a アンケート.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

from tenohira.forms import interchange

LIBRARY_DIR = Path(__file__).resolve().parent / "library"
SLUG = re.compile(r"^[a-z][a-z0-9_]{0,59}$")

#: The gallery's order of categories; a template of another category comes after these.
CATEGORIES = [
    "証明書の交付請求", "各種届出", "税", "補助金・助成の申請", "子育て・教育", "イベント・講座の申込",
    "施設利用", "ごみ・環境", "通報・相談", "情報公開", "登録・届出（市民活動）", "アンケート", "意見募集",
]


@dataclass(frozen=True)
class Template:
    slug: str
    title: str
    category: str
    description: str
    kind: str
    anonymous: bool
    schema: dict

    @property
    def steps(self) -> list[dict]:
        """For the preview: each page's title and its fields (label and type in words)."""
        from tenohira.forms.schema import parse

        parsed = parse(self.schema)
        return [{"title": step.title, "fields": [_describe(f) for f in step.fields]} for step in parsed.steps]

    @property
    def field_count(self) -> int:
        return sum(len(step["fields"]) for step in self.schema["steps"])


TYPE_NAMES = {
    "text": "1行の文字", "textarea": "複数行の文字", "number": "数字", "email": "メールアドレス", "phone": "電話番号",
    "postal_code": "郵便番号", "address": "住所", "name": "氏名（フリガナ）", "date": "日付", "choice": "選択（1つ）",
    "multichoice": "選択（複数）", "yesno": "はい・いいえ", "consent": "同意", "file": "添付ファイル", "group": "繰り返し",
    "computed": "自動計算", "guidance": "説明文",
}


def _describe(field) -> dict:
    label = field.label or (field.options.get("text", "")[:30] + "…" if field.type == "guidance" else "")
    return {
        "label": label, "type": TYPE_NAMES.get(field.type, field.type), "required": field.required,
        "conditional": field.show_if is not None,
        "children": [_describe(child) for child in field.children],
    }


@functools.cache
def templates() -> tuple[Template, ...]:
    """Every template, in the gallery's order (category, then title). Read once per
    process: the files are part of the installed package."""
    found = []
    for path in sorted(LIBRARY_DIR.glob("*.json")):
        loaded = interchange.load(path.read_bytes())  # a broken template is a bug: let it raise
        meta = loaded.meta
        found.append(Template(
            slug=path.stem, title=meta["title"], category=meta.get("category", "その他"),
            description=meta.get("description", ""), kind=loaded.kind, anonymous=loaded.anonymous,
            schema=loaded.schema,
        ))
    order = {name: index for index, name in enumerate(CATEGORIES)}
    return tuple(sorted(found, key=lambda t: (order.get(t.category, len(order)), t.category, t.title)))


def by_category() -> list[tuple[str, list[Template]]]:
    grouped: dict[str, list[Template]] = {}
    for template in templates():
        grouped.setdefault(template.category, []).append(template)
    return list(grouped.items())


def get(slug: str) -> Template:
    """The template named `slug`, or LookupError."""
    if not isinstance(slug, str) or not SLUG.match(slug):
        raise LookupError(slug)
    for template in templates():
        if template.slug == slug:
            return template
    raise LookupError(slug)


def load(slug: str) -> tuple[dict, dict]:
    """(a fresh copy of the schema, meta) of a template, ready for start_working_copy."""
    import copy

    template = get(slug)
    return copy.deepcopy(template.schema), {"title": template.title, "kind": template.kind,
                                            "anonymous": template.anonymous, "category": template.category}
