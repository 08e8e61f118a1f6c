"""Response tallies of a form (申込集計表): a header, a simple tally per question and a
cross tabulation of two questions, optionally split by a third.

What is counted
  The submissions of one procedure's form, over ALL its versions, submitted in a period
  (JST days, both ends included) and in the chosen statuses (by default every status
  but 取下げ: a withdrawn application is one the resident took back). Questions are
  matched across versions by key; a question's label, and an option's label, come from
  the newest version that has it.

Denominators (every percentage says which one it uses)
  * 回答総数 (responses): every submission in scope.
  * 有効回答数 (answered): responses where the question was shown and answered; blanks
    (無回答) and responses where a condition hid the question (対象外) are left out.
  * 複数選択: the respondents who chose at least one option; a respondent may choose
    several, so the percentages may add up to more than 100%.

Which questions
  choice, multichoice, yesno and number are tallied by value; text, textarea and date are
  only counted as answered or not (free text is never listed: it may name people).
  Names, addresses, contacts, files and computed amounts are not tallied, and neither
  are the questions inside a repeating group (a response holds any number of rows, so
  a per-response percentage would mislead); the tally says so in its notes.

Two ways to count, one result
  On PostgreSQL the counting is done in the database: the questions that need no other
  answer are counted together in one scan (each response's answers read once, the wanted
  keys taken from them), and a question with show-conditions by a GROUP BY of its own
  over the jsonb answers (`answers -> 'q'`) together with the answers its conditions
  read, so hidden and blank can be told apart without fetching rows. Elsewhere (SQLite) the
  rows are streamed once and the same keys are counted in Python. Both produce the same
  grouped counts, and one function turns grouped counts into the tally, so the two
  paths cannot disagree on the figures.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connection
from django.db.models import Count
from django.db.models.fields.json import KeyTransform
from django.utils import timezone

from tenohira.forms.conditions import Scope, holds
from tenohira.forms.schema import condition_fields
from tenohira.insights.numbers import pct

JST = ZoneInfo("Asia/Tokyo")

#: Questions tallied by value, and those only counted as answered.
VALUE_TYPES = ("choice", "multichoice", "yesno", "number")
COUNT_ONLY_TYPES = ("text", "textarea", "date")
#: Types that may be an axis of a cross tabulation (a few known categories each).
AXIS_TYPES = ("choice", "multichoice", "yesno")

BLANK = "__blank__"  # the category of responses without an answer on a cross-tab axis
BLANK_LABEL = "無回答"
HIDDEN_LABEL = "対象外（条件により非表示）"
YESNO_OPTIONS = (("yes", "はい"), ("no", "いいえ"))
CHUNK = 2000

#: Statuses left out unless asked for.
DEFAULT_EXCLUDED = ("withdrawn",)

NOTE_STATUSES = "状態を選ばないときは、取下げを除くすべての状態の回答を集計します。"
NOTE_GROUPS = ("繰り返し項目（{labels}）の中の質問は、1件の回答に行がいくつもあるため、"
               "この集計表には含めていません。")
NOTE_PERSONAL = "氏名・住所・連絡先・添付ファイルなど個人を特定できる項目は集計しません。自由記述は件数だけを数え、内容は載せません。"
NOTE_MULTI_AXIS = "クロス集計の軸が複数選択の質問のときは、1件の回答を選んだ選択肢ごとに1回数えます（小計・合計は延べ数です）。"


class TallyError(ValueError):
    """The request cannot be tallied; the message is for the clerk, in Japanese."""


@dataclass
class Question:
    key: str
    label: str
    type: str
    unit: str = ""
    options: dict[str, str] = field(default_factory=dict)  # value → label, in display order
    #: version id → the condition under which the question is shown in that version
    #: (its step's and its own show_if; None: always shown; absent: not in that version).
    shown_if: dict[int, dict | None] = field(default_factory=dict)

    @property
    def condition_keys(self) -> list[str]:
        keys: list[str] = []
        for condition in self.shown_if.values():
            for key in condition_fields(condition):
                if key not in keys:
                    keys.append(key)
        return keys


@dataclass
class TallyScope:
    """What is tallied: the procedure, the period and the statuses."""

    procedure: Any
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    statuses: list[str] | None = None  # None: every status but 取下げ

    def status_list(self) -> list[str]:
        from tenohira.applications.models import Submission

        if self.statuses:
            return list(self.statuses)
        return [s for s in Submission.Status.values if s not in DEFAULT_EXCLUDED]


# --- questions across versions ----------------------------------------------------------


def _versions(procedure) -> list:
    from tenohira.forms.models import FormVersion

    return list(FormVersion.objects.filter(definition__procedure=procedure).order_by("-number"))


def questions_of(versions: list) -> tuple[list[Question], list[str]]:
    """The tallied questions of the versions (newest first), and the labels of the
    repeating groups left out."""
    found: dict[str, Question] = {}
    order: list[str] = []
    groups: list[str] = []
    for version in versions:  # newest first: the first label seen is the newest
        schema = version.parsed()
        for step in schema.steps:
            for fld in step.fields:
                if fld.type == "group":
                    if fld.label not in groups:
                        groups.append(fld.label)
                    continue
                if fld.type not in VALUE_TYPES + COUNT_ONLY_TYPES:
                    continue
                if fld.option("standard") or fld.option("prefill"):
                    continue  # a text that stands for 氏名, 住所, 電話番号 … is the person's
                question = found.get(fld.key)
                if question is None:
                    question = found[fld.key] = Question(fld.key, fld.label, fld.type, fld.option("unit", "") or "")
                    order.append(fld.key)
                elif question.type != fld.type:
                    continue  # the key meant something else in an older version
                conditions = [c for c in (step.show_if, fld.show_if) if c is not None]
                question.shown_if[version.pk] = (
                    None if not conditions else conditions[0] if len(conditions) == 1 else {"all": conditions}
                )
                if fld.type == "yesno":
                    question.options = dict(YESNO_OPTIONS)
                elif fld.type in ("choice", "multichoice"):
                    for choice in fld.option("choices", []):
                        question.options.setdefault(str(choice["value"]), str(choice["label"]))
    return [found[k] for k in order], groups


# --- the rows in scope ------------------------------------------------------------------


def _bounds(scope: TallyScope) -> tuple[dt.datetime | None, dt.datetime | None]:
    start = dt.datetime.combine(scope.date_from, dt.time(), JST) if scope.date_from else None
    end = dt.datetime.combine(scope.date_to + dt.timedelta(days=1), dt.time(), JST) if scope.date_to else None
    return start, end


def submissions_in_scope(scope: TallyScope):
    """The submissions a tally counts (the caller has already checked the user may tally
    this procedure: backoffice.selectors.tally_procedure_for)."""
    from tenohira.applications.models import Submission

    rows = Submission.objects.filter(procedure=scope.procedure, status__in=scope.status_list())
    start, end = _bounds(scope)
    if start is not None:
        rows = rows.filter(submitted_at__gte=start)
    if end is not None:
        rows = rows.filter(submitted_at__lt=end)
    return rows.order_by()


def _hashable(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    if isinstance(value, float) and value == int(value):
        return int(value)
    return value


def _use_database(method: str | None) -> bool:
    if method == "python":
        return False
    if method == "database":
        if connection.vendor != "postgresql":
            raise TallyError("データベースでの集計は PostgreSQL でだけ使えます。")
        return True
    return connection.vendor == "postgresql"


def _grouped_in_database(rows, keys: list[str], with_version: bool) -> Counter:
    """{(version id?, value of each key…): count} by GROUP BY over the jsonb answers."""
    names = {f"k{i}": KeyTransform(key, "answers") for i, key in enumerate(keys)}
    columns = (["form_version_id"] if with_version else []) + list(names)
    counts: Counter = Counter()
    for item in rows.annotate(**names).values(*columns).annotate(n=Count("pk")).order_by():
        counts[tuple(_hashable(item[c]) for c in columns)] += item["n"]
    return counts


@dataclass
class _Plan:
    """The grouped counts one tally needs: per question (version, value, condition
    answers…), and for the cross tabulation (row, column, split)."""

    questions: list[Question]
    cross_keys: list[str] | None

    def question_keys(self, question: Question) -> list[str]:
        return [question.key] + [k for k in question.condition_keys if k != question.key]


def _marginals_in_database(rows, keys: list[str], by_version: dict[int, int]) -> dict[str, Counter]:
    """{key: {(version id, value): count}} for questions that need no other answer, in
    ONE scan: each response's answers are read once and the wanted keys taken from them
    (a GROUP BY per question reads every response again for each question). A key a
    response does not hold counts as None, as `answers -> 'key'` would give."""
    inner, params = rows.values("form_version_id", "answers").query.sql_with_params()
    # The inner query is the ORM's own (its values are parameters); the keys are a parameter.
    sql = (
        "SELECT r.form_version_id, k.key, (r.answers -> k.key)::text, COUNT(*) "  # noqa: S608
        f"FROM ({inner}) r CROSS JOIN unnest(%s::text[]) AS k(key) "
        "WHERE r.answers ? k.key GROUP BY 1, 2, 3"
    )
    counts = {key: Counter() for key in keys}
    present: Counter = Counter()
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, list(keys)])
        for version_id, key, value, n in cursor.fetchall():
            value = json.loads(value)  # the JSON text of the answer (cast in the query)
            counts[key][(version_id, _hashable(value))] += n
            present[(version_id, key)] += n
    for key in keys:
        for version_id, total in by_version.items():
            missing = total - present[(version_id, key)]
            if missing:
                counts[key][(version_id, None)] += missing
    return counts


def _grouped_counts(rows, plan: _Plan, method: str | None,
                    by_version: dict[int, int] | None = None) -> tuple[dict[str, Counter], Counter | None]:
    if _use_database(method):
        alone = [q.key for q in plan.questions if len(plan.question_keys(q)) == 1]
        per_question = _marginals_in_database(rows, alone, by_version) if alone and by_version is not None else {}
        for q in plan.questions:
            if q.key not in per_question:
                per_question[q.key] = _grouped_in_database(rows, plan.question_keys(q), True)
        cross = _grouped_in_database(rows, plan.cross_keys, False) if plan.cross_keys else None
        return per_question, cross
    # One pass over the rows, counting the very keys the database path groups by.
    per_question = {q.key: Counter() for q in plan.questions}
    key_lists = [(q.key, plan.question_keys(q)) for q in plan.questions]
    cross: Counter | None = Counter() if plan.cross_keys else None
    for version_id, answers in rows.values_list("form_version_id", "answers").iterator(chunk_size=CHUNK):
        answers = answers or {}
        for qkey, keys in key_lists:
            per_question[qkey][(version_id, *(_hashable(answers.get(k)) for k in keys))] += 1
        if cross is not None:
            cross[tuple(_hashable(answers.get(k)) for k in plan.cross_keys)] += 1
    return per_question, cross


# --- turning grouped counts into the tally ----------------------------------------------


def _answered(value: Any) -> bool:
    return value not in (None, "", (), [], {})


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def _plain(number: Decimal | None, places: int | None = None) -> str | None:
    """A Decimal as JSON-safe text without exponent (1500, never 1.5E+3)."""
    if number is None:
        return None
    if places is not None:
        number = number.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    text = format(number, "f")
    if "." in text and places is None:
        text = text.rstrip("0").rstrip(".")
    return text


def _option_key(question: Question, value: Any) -> str:
    if question.type == "yesno":
        return "yes" if value is True else "no" if value is False else str(value)
    return str(value)


def _label(question: Question, value: str) -> str:
    return question.options.get(value, value)


def simple_tally(question: Question, counts: Counter, responses: int) -> dict:
    """One question's tally from its grouped counts (see the module docstring)."""
    condition_keys = [k for k in question.condition_keys if k != question.key]
    answered = blank = hidden = 0
    by_option: Counter = Counter()
    numbers: Counter = Counter()
    for (version_id, value, *condition_values), n in counts.items():
        if _answered(value) and version_id in question.shown_if:
            answered += n
            if question.type == "multichoice":
                for chosen in value if isinstance(value, tuple) else (value,):
                    by_option[_option_key(question, chosen)] += n
            elif question.type in ("choice", "yesno"):
                by_option[_option_key(question, value)] += n
            elif question.type == "number":
                number = _number(value)
                if number is not None:
                    numbers[number] += n
            continue
        if version_id not in question.shown_if:
            hidden += n  # the version the resident answered did not ask it
            continue
        scope = Scope(dict(zip(condition_keys, condition_values, strict=True)))
        if holds(question.shown_if[version_id], scope):
            blank += n
        else:
            hidden += n
    result: dict[str, Any] = {
        "key": question.key, "label": question.label, "type": question.type,
        "responses": responses, "answered": answered, "blank": blank, "hidden": hidden,
        "answered_pct": pct(answered, responses),
        "blank_pct": pct(blank, responses), "hidden_pct": pct(hidden, responses),
    }
    if question.type in ("choice", "yesno", "multichoice"):
        values = list(question.options) + sorted(v for v in by_option if v not in question.options)
        result["options"] = [
            {"value": v, "label": _label(question, v), "count": by_option[v],
             "pct_of_responses": pct(by_option[v], responses), "pct_of_answered": pct(by_option[v], answered)}
            for v in values
        ]
        # For multiple choice the answered are the respondents (those who chose anything).
        result["denominator"] = "respondents" if question.type == "multichoice" else "answered"
        result["choices_total"] = sum(by_option.values())
    if question.type == "number":
        result["unit"] = question.unit
        result["numbers"] = number_summary(numbers)
    return result


def number_summary(numbers: Counter) -> dict:
    """count, sum, mean (half-up to 0.01), median, min and max of a Counter of Decimals."""
    count = sum(numbers.values())
    if not count:
        return {"count": 0, "sum": None, "mean": None, "median": None, "min": None, "max": None}
    total = sum((value * n for value, n in numbers.items()), Decimal(0))
    ordered = sorted(numbers)

    def nth(index: int) -> Decimal:  # the index-th value (0-based) of the sorted answers
        seen = 0
        for value in ordered:
            seen += numbers[value]
            if index < seen:
                return value
        raise IndexError(index)  # pragma: no cover

    median = nth(count // 2) if count % 2 else (nth(count // 2 - 1) + nth(count // 2)) / 2
    return {"count": count, "sum": _plain(total), "mean": _plain(total / count, 2), "median": _plain(median),
            "min": _plain(ordered[0]), "max": _plain(ordered[-1])}


def _categories(question: Question, value: Any) -> list[str]:
    if not _answered(value):
        return [BLANK]
    if question.type == "multichoice":
        return [_option_key(question, v) for v in (value if isinstance(value, tuple) else (value,))] or [BLANK]
    return [_option_key(question, value)]


def _axis(question: Question, seen: set[str]) -> list[tuple[str, str]]:
    values = list(question.options) + sorted(v for v in seen if v not in question.options and v != BLANK)
    return [(v, _label(question, v)) for v in values] + [(BLANK, BLANK_LABEL)]


def cross_tabulation(row_q: Question, col_q: Question, split_q: Question | None, counts: Counter) -> dict:
    """Row question × column question (× split question's values as column groups), with
    row subtotals per group, the row total, column totals and the grand total. A response
    with no answer on an axis counts under 無回答; multiple choice counts once per option."""
    cells: Counter = Counter()
    seen: tuple[set, set, set] = (set(), set(), set())
    for key, n in counts.items():
        row_value, col_value = key[0], key[1]
        split_value = key[2] if split_q is not None else None
        splits = _categories(split_q, split_value) if split_q is not None else [""]
        for r in _categories(row_q, row_value):
            for c in _categories(col_q, col_value):
                for s in splits:
                    cells[(r, c, s)] += n
                    seen[0].add(r), seen[1].add(c), seen[2].add(s)
    rows = _axis(row_q, seen[0])
    columns = _axis(col_q, seen[1])
    groups = _axis(split_q, seen[2]) if split_q is not None else [("", "")]
    table_rows = []
    for r, r_label in rows:
        per_group = []
        for s, _ in groups:
            values = [cells[(r, c, s)] for c, _ in columns]
            per_group.append({"counts": values, "subtotal": sum(values)})
        table_rows.append({"value": r, "label": r_label, "groups": per_group,
                           "total": sum(g["subtotal"] for g in per_group)})
    column_totals = []
    for index, (s, _) in enumerate(groups):
        values = [sum(cells[(r, c, s)] for r, _ in rows) for c, _ in columns]
        column_totals.append({"counts": values, "subtotal": sum(values)})
        del index
    return {
        "row": {"key": row_q.key, "label": row_q.label},
        "column": {"key": col_q.key, "label": col_q.label},
        "split": {"key": split_q.key, "label": split_q.label} if split_q is not None else None,
        "columns": [{"value": v, "label": label} for v, label in columns],
        "groups": [{"value": v, "label": label} for v, label in groups],
        "rows": table_rows,
        "totals": {"groups": column_totals, "total": sum(g["subtotal"] for g in column_totals)},
        "multiple": any(q is not None and q.type == "multichoice" for q in (row_q, col_q, split_q)),
    }


# --- the whole tally --------------------------------------------------------------------


def compute(scope: TallyScope, *, cross: tuple[str, str] | None = None, split: str | None = None,
            method: str | None = None, today: dt.date | None = None) -> dict:
    """The tally of `scope` as a JSON-ready dict (Decimals stay Decimals; see to_json).

    `cross` = (row question key, column question key); `split` = a third key whose values
    become column groups. `method` forces "database" (PostgreSQL) or "python"; by
    default the database counts where it can."""
    procedure = scope.procedure
    versions = _versions(procedure)
    rows = submissions_in_scope(scope)
    by_version = dict(rows.values_list("form_version_id").annotate(n=Count("pk")).order_by())
    responses = sum(by_version.values())
    # The questions of the versions answered in scope, and of the newest version (so a
    # form without answers yet still lists its questions).
    used = [v for i, v in enumerate(versions) if v.pk in by_version or i == 0]
    questions, groups = questions_of(used)
    by_key = {q.key: q for q in questions}

    cross_questions: list[Question] | None = None
    if split and not cross:
        raise TallyError("クロス集計の分割に使う質問を選ぶときは、行と列の質問も選んでください。")
    if cross:
        chosen = [*cross, *([split] if split else [])]
        for key in chosen:
            question = by_key.get(key)
            if question is None:
                raise TallyError(f"質問「{key}」はこのフォームにありません。")
            if question.type not in AXIS_TYPES:
                raise TallyError(f"「{question.label}」はクロス集計に使えません（単一選択・複数選択・はい/いいえの質問だけが使えます）。")
        if len(set(chosen)) != len(chosen):
            raise TallyError("クロス集計の行・列・分割には、それぞれ違う質問を選んでください。")
        cross_questions = [by_key[k] for k in chosen]

    plan = _Plan(questions, [q.key for q in cross_questions] if cross_questions else None)
    per_question, cross_counts = _grouped_counts(rows, plan, method, by_version)
    version_numbers = {v.pk: v.number for v in versions}
    definition_name = procedure.name
    notes = [NOTE_STATUSES, NOTE_PERSONAL]
    if groups:
        notes.append(NOTE_GROUPS.format(labels="、".join(groups)))
    if cross_questions and any(q.type == "multichoice" for q in cross_questions):
        notes.append(NOTE_MULTI_AXIS)
    from tenohira.applications.models import Submission

    statuses = scope.status_list()
    result = {
        "header": {
            "form_id": procedure.code,
            "versions": sorted(version_numbers[v] for v in by_version),
            "form_name": definition_name,
            "form_title": versions[0].parsed().title if versions else definition_name,
            "period": {"from": scope.date_from.isoformat() if scope.date_from else None,
                       "to": scope.date_to.isoformat() if scope.date_to else None,
                       "label": period_label(scope.date_from, scope.date_to)},
            "tallied_on": (today or timezone.localdate()).isoformat(),
            "responses": responses,
            "statuses": statuses,
            "status_labels": [str(Submission.Status(s).label) for s in statuses],
            "default_statuses": not scope.statuses,
        },
        "questions": [simple_tally(q, per_question[q.key], responses) for q in questions],
        "cross": (cross_tabulation(cross_questions[0], cross_questions[1],
                                   cross_questions[2] if len(cross_questions) > 2 else None, cross_counts)
                  if cross_questions else None),
        "notes": notes,
    }
    return result


def period_label(date_from: dt.date | None, date_to: dt.date | None) -> str:
    def day(d: dt.date) -> str:
        return f"{d.year}年{d.month}月{d.day}日"

    if date_from and date_to:
        return f"{day(date_from)}〜{day(date_to)}"
    if date_from:
        return f"{day(date_from)}以降"
    if date_to:
        return f"{day(date_to)}まで"
    return "全期間"


def to_json(result: dict) -> str:
    """The tally as JSON (percentages and means as numbers with their decimals)."""

    def default(value):
        if isinstance(value, Decimal):
            return float(value)
        raise TypeError(type(value).__name__)

    return json.dumps(result, ensure_ascii=False, indent=2, default=default)


def axis_questions(result_questions: list[dict]) -> list[dict]:
    """The questions that may be chosen as an axis of the cross tabulation."""
    return [q for q in result_questions if q["type"] in AXIS_TYPES]


def parse_date(text: str | None, what: str) -> dt.date | None:
    """A date typed as 2024-04-01 (or 2024/4/1); a clear message otherwise."""
    if text is None or not str(text).strip():
        return None
    text = str(text).strip()
    if len(text) > 10:
        raise TallyError(f"{what}は 2024-04-01 の形で入力してください。")
    try:
        year, month, day = (int(part) for part in text.replace("/", "-").split("-"))
        return dt.date(year, month, day)
    except (ValueError, TypeError):
        raise TallyError(f"{what}は 2024-04-01 の形で入力してください。") from None
