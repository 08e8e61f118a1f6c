"""Field types of the form engine.

Each type turns what a resident typed (the raw inputs of a POST, kept as lists of
strings) into one stored value, or a message saying what to fix; and turns a stored value
back into text for the check-your-answers page, the receipt PDF and the e-mail.

Raw input names: a field `key` posts `key` (compound types add `key__part`); inside a
repeating group, row i of child `c` of group `g` posts `g-i-c`.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils import timezone

from tenohira.core import japanese
from tenohira.core.text import fold_width
from tenohira.core.wareki import WarekiError, format_wareki, parse_date
from tenohira.forms.schema import Field

Raw = dict[str, list[str]]


class FieldError(ValueError):
    """What the resident must fix in one field (shown by the field and in the summary)."""


def is_question(label: str) -> bool:
    """「保護者は就労していますか」: a label asked as a question cannot take を/は directly."""
    return label.rstrip().endswith(("か", "？", "?"))


def name_of(field: Field) -> str:
    """How a message names the field: 「お子さん2の学年」 inside a repeating group (the
    engine gives each row's copy of the field its `_row` option), the question quoted."""
    label = f"「{field.label}」" if is_question(field.label) else field.label
    row = field.option("_row")
    if row and row.removeprefix(field.label).isdigit():
        return row  # 「品目2の品目」 says it twice: 「品目2」 is enough
    return f"{row}の{label}" if row else label


def first(raw: Raw, name: str) -> str:
    values = raw.get(name) or [""]
    return values[0] if values else ""


#: The longest value of one input that is stored or looked at (a textarea's `max_length`
#: may not exceed it). Anything longer is cut before it reaches the draft.
MAX_INPUT_LENGTH = 10_000


def bounded(field: Field, raw: Raw, name: str, limit: int, what: str = "") -> str:
    """The input's text, refused by its length before any parsing: a parser's cost then
    depends on the field, never on what a request sends."""
    text = first(raw, name)
    if len(text) > limit:
        raise FieldError(f"{name_of(field)}{what}は{limit}文字以内で入力してください。")
    return text


class FieldType:
    name = ""
    template = "forms/fields/text.html"
    has_value = True
    #: parts of a compound input (name → label); empty for single inputs
    parts: dict[str, str] = {}
    #: the longest text one input of this type may hold (checked before any parsing)
    default_max = 200

    def input_limit(self, field: Field) -> int:
        return self.default_max

    def max_values(self, field: Field) -> int:
        """How many values one input name may carry (checkboxes and files carry several)."""
        return 1

    def input_names(self, field: Field, prefix: str) -> list[str]:
        """Every input name this field may post: nothing else is ever stored."""
        return [f"{prefix}__{p}" for p in self.parts] if self.parts else [prefix]

    def check_options(self, field: Field) -> list[str]:
        return []

    def references(self, field: Field) -> list[str]:
        return []

    def is_empty(self, field: Field, raw: Raw, prefix: str) -> bool:
        names = [f"{prefix}__{p}" for p in self.parts] if self.parts else [prefix]
        return not any(v.strip() for name in names for v in raw.get(name, []))

    def clean(self, field: Field, raw: Raw, prefix: str) -> Any:
        """Stored value from raw inputs (only called when not empty)."""
        return first(raw, prefix).strip()

    def clean_in(self, field: Field, raw: Raw, prefix: str, answers) -> Any:
        """Like `clean`, for a type whose valid values depend on earlier answers (read
        with `answers.get(key)`): the engine calls this one."""
        return self.clean(field, raw, prefix)

    def to_raw(self, field: Field, value: Any, prefix: str) -> Raw:
        """Raw inputs that reproduce a stored value (for re-rendering a saved answer)."""
        return {prefix: ["" if value is None else str(value)]}

    def display(self, field: Field, value: Any) -> str:
        return "" if value in (None, "") else str(value)


class TextType(FieldType):
    name = "text"
    default_max = 200

    def check_options(self, field):
        limit = field.option("max_length", self.default_max)
        if isinstance(limit, int) and not isinstance(limit, bool) and 0 < limit <= MAX_INPUT_LENGTH:
            return []
        return [f"max_length は {MAX_INPUT_LENGTH} 以下の正の整数です。"]

    def input_limit(self, field):
        return field.option("max_length", self.default_max)

    def clean(self, field, raw, prefix):
        value = first(raw, prefix).strip()
        limit = self.input_limit(field)
        # Browsers count a line break as one character (maxlength) and send it as two.
        length = len(value) - value.count("\r\n")
        if length > limit:
            # A value cut when it was stored is only known to be at least that long.
            count = f"{length}文字です" if len(value) < MAX_INPUT_LENGTH else f"{MAX_INPUT_LENGTH}文字を超えています"
            raise FieldError(f"{name_of(field)}は{limit}文字以内で入力してください（今は{count}）。")
        if field.option("code"):
            value = fold_width(value)  # 受付番号や車両番号のような記号的な値は半角にそろえる
        return value


class TextareaType(TextType):
    name = "textarea"
    template = "forms/fields/textarea.html"
    default_max = 2000


# A plain decimal number, checked before any conversion: Decimal() takes "1e9999999",
# "Infinity" and "sNaN", and turning the first into an int keeps a worker busy for a
# minute. An exponent (two digits at most) only where a field asks for one.
_PLAIN_NUMBER = re.compile(r"([+-]?)([0-9]+)(?:\.([0-9]+))?")
_WITH_EXPONENT = re.compile(r"([+-]?)([0-9]+)(?:\.([0-9]+))?(?:[eE]([+-]?[0-9]{1,2}))?")


class NumberType(FieldType):
    name = "number"
    template = "forms/fields/number.html"
    default_digits = 15

    def check_options(self, field):
        problems = []
        for bound in ("min", "max"):
            if bound in field.options and not isinstance(field.options[bound], int | float):
                problems.append(f"{bound} は数値です。")
        digits = field.option("max_digits", self.default_digits)
        if not isinstance(digits, int) or isinstance(digits, bool) or not 1 <= digits <= 30:
            problems.append("max_digits は 1 から 30 の整数です。")
        return problems

    def input_limit(self, field):
        # Room for the digits, commas every three, a sign, a point, an exponent and the unit.
        digits = field.option("max_digits", self.default_digits)
        return digits * 2 + 10 + len(field.option("unit", ""))

    def clean(self, field, raw, prefix):
        digits = field.option("max_digits", self.default_digits)
        too_long = f"{name_of(field)}は{digits}桁以内の数字で入力してください。"
        text = first(raw, prefix)
        if len(text) > self.input_limit(field):
            raise FieldError(too_long)
        text = fold_width(text).replace(",", "").strip()
        unit = field.option("unit", "")
        if unit:
            text = text.removesuffix(fold_width(unit)).strip()
        pattern = _WITH_EXPONENT if field.option("exponent") else _PLAIN_NUMBER
        match = pattern.fullmatch(text)
        if match is None:
            raise FieldError(f"{name_of(field)}は数字で入力してください。")
        whole, fraction = match.group(2).lstrip("0"), match.group(3) or ""
        if len(whole) + len(fraction) > digits:
            raise FieldError(too_long)
        number = Decimal(text)
        if number.adjusted() >= digits:  # an exponent may make few digits a huge number
            raise FieldError(too_long)
        if field.option("integer", True):
            if number != number.to_integral_value():
                raise FieldError(f"{name_of(field)}は整数で入力してください。")
            number = int(number)
        low, high = field.option("min"), field.option("max")
        if low is not None and number < low:
            raise FieldError(f"{name_of(field)}は{low}{unit}以上で入力してください。")
        if high is not None and number > high:
            raise FieldError(f"{name_of(field)}は{high}{unit}以下で入力してください。")
        return number if isinstance(number, int) else format(number, "f")  # 1500, never 1.5E+3

    def display(self, field, value):
        if value in (None, ""):
            return ""
        return f"{value}{field.option('unit', '')}"


class EmailType(FieldType):
    name = "email"
    template = "forms/fields/email.html"
    default_max = 254  # the longest address SMTP carries

    def clean(self, field, raw, prefix):
        value = fold_width(bounded(field, raw, prefix, self.default_max)).strip()
        try:
            validate_email(value)
        except ValidationError:
            raise FieldError(f"{name_of(field)}の形式が正しくありません（例: name@example.jp）。") from None
        local, _, domain = value.rpartition("@")
        return f"{local}@{domain.lower()}"


class PhoneType(FieldType):
    name = "phone"
    template = "forms/fields/phone.html"
    default_max = 30

    def clean(self, field, raw, prefix):
        text = bounded(field, raw, prefix, self.default_max)
        try:
            return japanese.phone(text)
        except japanese.InputError as exc:
            # The library says 電話番号; the resident sees the field's own name (and row).
            raise FieldError(str(exc).replace("電話番号", name_of(field), 1)) from None

    def display(self, field, value):
        return japanese.format_phone(value) if value else ""


class PostalCodeType(FieldType):
    name = "postal_code"
    template = "forms/fields/postal_code.html"
    default_max = 20

    def clean(self, field, raw, prefix):
        text = bounded(field, raw, prefix, self.default_max)
        try:
            code = japanese.postal_code(text)
        except japanese.InputError as exc:
            raise FieldError(str(exc).replace("郵便番号", name_of(field), 1)) from None
        if japanese.lookup_postal_code(code) is None:
            raise FieldError(f"{name_of(field)}「{code}」は見つかりません。番号を確かめてください。")
        return code

    def display(self, field, value):
        return f"〒{value}" if value else ""


# CJK compatibility ideographs (﨑 U+FA11, 神 U+FA19 ...): NFKC would replace most of them
# with another code point, and an address or name from the My Number card must be kept
# exactly as received (a 外字 is reported, never replaced).
_COMPAT_IDEOGRAPHS = re.compile("([\uf900-\ufaff\U0002f800-\U0002fa1f]+)")


def fold_keeping_ideographs(text: str) -> str:
    """fold_width (１２３ → 123, ｱ → ア) on everything but compatibility ideographs."""
    parts = _COMPAT_IDEOGRAPHS.split(text)
    return "".join(part if index % 2 else fold_width(part) for index, part in enumerate(parts))


class AddressType(FieldType):
    """Postal code, then prefecture/city/town filled from it, then the street number."""

    name = "address"
    template = "forms/fields/address.html"
    parts = {
        "postal_code": "郵便番号",
        "prefecture": "都道府県",
        "city": "市区町村",
        "town": "町名",
        "street": "番地",
        "building": "建物名・部屋番号",
    }
    required_parts = ("postal_code", "prefecture", "city", "street")
    part_limits = {"postal_code": 20, "prefecture": 10, "city": 50, "town": 100, "street": 100, "building": 100}

    def clean(self, field, raw, prefix):
        value = {
            part: bounded(field, raw, f"{prefix}__{part}", self.part_limits[part], f"の{label}").strip()
            for part, label in self.parts.items()
        }
        missing = [self.parts[p] for p in self.required_parts if not value[p]]
        if missing:
            raise FieldError(f"{name_of(field)}の{'・'.join(missing)}を入力してください。")
        try:
            value["postal_code"] = japanese.postal_code(value["postal_code"])
        except japanese.InputError as exc:
            raise FieldError(f"{name_of(field)}の{exc}") from None
        value["street"] = fold_keeping_ideographs(value["street"])
        return value

    def to_raw(self, field, value, prefix):
        value = value or {}
        return {f"{prefix}__{part}": [value.get(part, "")] for part in self.parts}

    def display(self, field, value):
        if not value:
            return ""
        line = "".join(value.get(p, "") for p in ("prefecture", "city", "town", "street"))
        building = value.get("building", "")
        return f"〒{value.get('postal_code', '')} {line}{(' ' + building) if building else ''}"


class NameType(FieldType):
    """Family and given name with フリガナ (katakana; hiragana is converted)."""

    name = "name"
    template = "forms/fields/name.html"
    parts = {"family": "姓", "given": "名", "family_kana": "セイ", "given_kana": "メイ"}

    def clean(self, field, raw, prefix):
        value = {part: bounded(field, raw, f"{prefix}__{part}", 50, f"の{label}").strip()
                 for part, label in self.parts.items()}
        with_kana = field.option("kana", True)
        needed = ["family", "given"] + (["family_kana", "given_kana"] if with_kana else [])
        missing = [self.parts[p] for p in needed if not value[p]]
        if missing:
            raise FieldError(f"{name_of(field)}の{'・'.join(missing)}を入力してください。")
        if with_kana:
            try:
                value["family_kana"] = japanese.furigana(value["family_kana"]).replace(" ", "")
                value["given_kana"] = japanese.furigana(value["given_kana"]).replace(" ", "")
            except japanese.InputError as exc:
                raise FieldError(f"{name_of(field)}の{exc}") from None
        else:
            value.pop("family_kana"), value.pop("given_kana")
        return value

    def to_raw(self, field, value, prefix):
        value = value or {}
        return {f"{prefix}__{part}": [value.get(part, "")] for part in self.parts}

    def display(self, field, value):
        if not value:
            return ""
        name = f"{value.get('family', '')} {value.get('given', '')}"
        kana = f"{value.get('family_kana', '')} {value.get('given_kana', '')}".strip()
        return f"{name}（{kana}）" if kana else name


class DateType(FieldType):
    """A date typed as 2024-04-01, 令和6年4月1日, R6.4.1 or with full-width digits."""

    name = "date"
    template = "forms/fields/date.html"

    def check_options(self, field):
        problems = []
        for bound in ("min_days_from_today", "max_days_from_today"):
            if bound in field.options and not isinstance(field.options[bound], int):
                problems.append(f"{bound} は整数（日数）です。")
        return problems

    default_max = 30

    def clean(self, field, raw, prefix):
        text = bounded(field, raw, prefix, self.default_max)
        try:
            date = parse_date(text)
        except WarekiError as exc:
            raise FieldError(f"{name_of(field)}の{exc}") from None
        today = timezone.localdate()
        if field.option("not_future") and date > today:
            raise FieldError(f"{name_of(field)}に未来の日付は入力できません。")
        low = field.option("min_days_from_today")
        if low is not None and date < today + dt.timedelta(days=low):
            earliest = today + dt.timedelta(days=low)
            raise FieldError(f"{name_of(field)}は{format_wareki(earliest)}以降の日付を入力してください。")
        high = field.option("max_days_from_today")
        if high is not None and date > today + dt.timedelta(days=high):
            latest = today + dt.timedelta(days=high)
            raise FieldError(f"{name_of(field)}は{format_wareki(latest)}までの日付を入力してください。")
        return date.isoformat()

    def display(self, field, value):
        if not value:
            return ""
        date = dt.date.fromisoformat(value)
        return f"{format_wareki(date)}（{date.year}年{date.month}月{date.day}日）"


class ChoiceType(FieldType):
    name = "choice"
    template = "forms/fields/choice.html"

    def check_options(self, field):
        choices = field.option("choices")
        if not isinstance(choices, list) or not choices:
            return ["choices（選択肢）が必要です。"]
        problems = []
        values = []
        for choice in choices:
            if not isinstance(choice, dict) or "value" not in choice or "label" not in choice:
                problems.append("選択肢はそれぞれ value と label を持ちます。")
                continue
            values.append(str(choice["value"]))
        if len(values) != len(set(values)):
            problems.append("選択肢の value が重複しています。")
        return problems

    def labels(self, field) -> dict[str, str]:
        return {str(c["value"]): c["label"] for c in field.option("choices", [])}

    def clean(self, field, raw, prefix):
        value = first(raw, prefix)
        if value not in self.labels(field):
            raise FieldError(f"{name_of(field)}を選択肢から選んでください。")
        return value

    def display(self, field, value):
        return self.labels(field).get(value, "")


class MultiChoiceType(ChoiceType):
    name = "multichoice"
    template = "forms/fields/multichoice.html"

    def max_values(self, field):
        return len(field.option("choices", []))

    def is_empty(self, field, raw, prefix):
        return not [v for v in raw.get(prefix, []) if v]

    def clean(self, field, raw, prefix):
        labels = self.labels(field)
        chosen = [v for v in raw.get(prefix, []) if v]
        if any(v not in labels for v in chosen):
            raise FieldError(f"{name_of(field)}を選択肢から選んでください。")
        ordered = [v for v in labels if v in chosen]
        low, high = field.option("min"), field.option("max")
        if low and len(ordered) < low:
            raise FieldError(f"{name_of(field)}は{low}つ以上選んでください。")
        if high and len(ordered) > high:
            raise FieldError(f"{name_of(field)}は{high}つまで選べます。")
        return ordered

    def to_raw(self, field, value, prefix):
        return {prefix: list(value or [])}

    def display(self, field, value):
        labels = self.labels(field)
        return "、".join(labels.get(v, v) for v in value or [])


class YesNoType(FieldType):
    name = "yesno"
    template = "forms/fields/yesno.html"

    def clean(self, field, raw, prefix):
        value = first(raw, prefix)
        if value not in {"yes", "no"}:
            raise FieldError(yesno_message(field))
        return value == "yes"

    def to_raw(self, field, value, prefix):
        return {prefix: ["" if value is None else ("yes" if value else "no")]}

    def display(self, field, value):
        return "" if value is None else ("はい" if value else "いいえ")


def yesno_message(field: Field) -> str:
    if is_question(field.label):
        return f"{name_of(field)}で「はい」か「いいえ」を選んでください。"
    return f"{name_of(field)}について「はい」か「いいえ」を選んでください。"


class ConsentType(FieldType):
    name = "consent"
    template = "forms/fields/consent.html"

    def clean(self, field, raw, prefix):
        return first(raw, prefix) == "yes"

    def to_raw(self, field, value, prefix):
        return {prefix: ["yes" if value else ""]}

    def display(self, field, value):
        return "同意する" if value else "同意しない"


class FileType(FieldType):
    """Attachments: the raw inputs hold the tokens of files already stored for the draft."""

    name = "file"
    template = "forms/fields/file.html"
    default_types = ["jpeg", "png", "heic", "pdf"]

    def check_options(self, field):
        problems = []
        size = field.option("max_size_mb", 10)
        if not isinstance(size, int | float) or size <= 0:
            problems.append("max_size_mb は正の数です。")
        from tenohira.applications.attachments import KNOWN_TYPES

        unknown = [t for t in field.option("accept", self.default_types) if t not in KNOWN_TYPES]
        if unknown:
            problems.append(f"accept に使えない種類があります: {'、'.join(unknown)}")
        return problems

    def max_values(self, field):
        # Tokens of files already attached; a few more than allowed, so that too many
        # still shows the message rather than files silently dropped.
        return field.option("max_files", 5) * 2

    def is_empty(self, field, raw, prefix):
        return not [v for v in raw.get(prefix, []) if v]

    def clean(self, field, raw, prefix):
        tokens = [v for v in raw.get(prefix, []) if v]
        limit = field.option("max_files", 5)
        if len(tokens) > limit:
            raise FieldError(f"{name_of(field)}は{limit}ファイルまで添付できます。")
        return tokens

    def to_raw(self, field, value, prefix):
        return {prefix: list(value or [])}

    def display(self, field, value):
        return f"{len(value or [])}ファイル"


class GroupType(FieldType):
    """A repeating group (children, items): rows of the same child fields."""

    name = "group"
    template = "forms/fields/group.html"

    #: no form may repeat a group more often than this, whatever its `max` says
    max_rows = 50

    def check_options(self, field):
        low, high = field.option("min", 1), field.option("max", 10)
        if not (isinstance(low, int) and isinstance(high, int) and 0 <= low <= high):
            return ["min と max は 0 ≤ min ≤ max の整数です。"]
        if high > self.max_rows:
            return [f"max は {self.max_rows} 以下です（1つの項目で繰り返せる行数の上限）。"]
        return []

    def posted_count(self, field, raw, prefix) -> int | None:
        """The number of rows the page says it holds (None when it says nothing usable)."""
        text = first(raw, f"{prefix}-count")
        if not (text.isascii() and text.isdigit()):
            return None
        return int(text) if len(text) <= 4 else 10_000  # more rows than any form has

    def row_count(self, field, raw, prefix) -> int:
        count = self.posted_count(field, raw, prefix) or field.option("min", 1) or 1
        return max(field.option("min", 1), min(count, field.option("max", 10)))

    def is_empty(self, field, raw, prefix):
        return False  # rows are validated one by one by the engine

    def to_raw(self, field, value, prefix):
        rows = value or []
        raw: Raw = {f"{prefix}-count": [str(max(len(rows), field.option("min", 1)))]}
        for index, row in enumerate(rows):
            for child in field.children:
                if child.key in row:
                    raw.update(FIELD_TYPES[child.type].to_raw(child, row[child.key], f"{prefix}-{index}-{child.key}"))
        return raw


class ComputedType(FieldType):
    """A value computed from other answers (e.g. fee = copies × ¥300); never typed."""

    name = "computed"
    template = "forms/fields/computed.html"

    def check_options(self, field):
        from tenohira.forms.expressions import ExpressionError, references

        try:
            references(field.option("expression"))
        except ExpressionError as exc:
            return [str(exc)]
        return []

    def references(self, field):
        from tenohira.forms.expressions import references

        return references(field.option("expression"))

    def is_empty(self, field, raw, prefix):
        return False

    def display(self, field, value):
        if value is None:
            return ""
        if field.option("format") == "yen":
            return f"{int(value):,}円"
        return str(value)


class GuidanceType(FieldType):
    """Text that explains; no answer."""

    name = "guidance"
    template = "forms/fields/guidance.html"
    has_value = False

    def check_options(self, field):
        return [] if field.option("text") else ["text（説明文）が必要です。"]


class ReservationSlotType(FieldType):
    """A booking slot chosen from the free ones (粗大ごみ: a collection day of the
    resident's district route). The slots come from the slot source a higher app registers
    (forms.extensions); the stored value is the slot id. The place itself is taken when the
    application is sent (the reservations app books it inside the submission's
    transaction), so the options shown here are what was free when the page was made.

    Options: `resource_kind` (e.g. "collection") or `resource` (a resource code), and
    `district_field`: the key of an answer on an EARLIER page whose value picks the
    resource by its district (the page must know it before it can list the days).
    """

    name = "reservation_slot"
    template = "forms/fields/reservation_slot.html"
    default_max = 12

    def check_options(self, field):
        problems = []
        if field.parent is not None:
            problems.append("予約枠（reservation_slot）は繰り返し項目（group）の中では使えません。")
        kind, code = field.option("resource_kind"), field.option("resource")
        if not (isinstance(kind, str) and kind) and not (isinstance(code, str) and code):
            problems.append("resource_kind（予約対象の種類）か resource（予約対象のコード）が必要です。")
        district = field.option("district_field")
        if district is not None and not (isinstance(district, str) and district):
            problems.append("district_field は地区を選ぶ項目の key です。")
        return problems

    def clean(self, field, raw, prefix):
        return self.clean_in(field, raw, prefix, {})

    def clean_in(self, field, raw, prefix, answers):
        from tenohira.forms.extensions import slot_source

        text = bounded(field, raw, prefix, self.default_max).strip()
        if not (text.isascii() and text.isdigit()):
            raise FieldError(f"{name_of(field)}を選んでください。")
        source = slot_source()
        if source is None:  # an installation without reservations: nothing can be booked
            raise FieldError(f"{name_of(field)}は、いまは選べません。担当課にお問い合わせください。")
        return source.validate(field, int(text), answers)

    def display(self, field, value):
        from tenohira.forms.extensions import slot_label

        return slot_label(field, value)


FIELD_TYPES: dict[str, FieldType] = {
    t.name: t
    for t in (
        TextType(), TextareaType(), NumberType(), EmailType(), PhoneType(), PostalCodeType(),
        AddressType(), NameType(), DateType(), ChoiceType(), MultiChoiceType(), YesNoType(),
        ConsentType(), FileType(), GroupType(), ComputedType(), GuidanceType(), ReservationSlotType(),
    )
}
