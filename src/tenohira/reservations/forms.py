"""Input parsing of the residents' booking pages.

Everything a resident types on the booking page goes through the form engine
(tenohira.forms): who books (氏名・フリガナ, e-mail, phone; the kind of examination and the
number of places where the resource has them) is a small fixed schema built here, and the
resource's own questions (`Resource.questions`) are the clerk-built schema. Both are
validated, rendered and summarised by the engine, so there is one set of field rules and
one wording of errors across the site.

Between the booking page, the check page (確認) and the final POST nothing is stored: the
check page carries what was typed in hidden inputs and every POST is validated again.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field

from tenohira.forms.engine import FormRun, raw_from_post
from tenohira.forms.fields import Raw
from tenohira.forms.rendering import BoundField, bind_step, error_summary
from tenohira.forms.schema import FormSchema, SchemaError, parse
from tenohira.reservations.models import Resource

logger = logging.getLogger(__name__)

# Input names of the fixed part; the clerk-built questions use their own keys (a key of a
# question equal to one of these would be shadowed, so these are unlikely words).
NAME, EMAIL, PHONE, KIND, PLACES = "booker_name", "booker_email", "booker_phone", "booker_kind", "booker_places"
CONTACT_STEP = "booker"
REQUEST_KEY_LENGTH = 32


def parse_id(value) -> int | None:
    """A database id from a query string or a form (「abc」, 「-1」, 「1e9」: None)."""
    text = str(value or "").strip()
    if not text.isascii() or not text.isdigit() or len(text) > 12:
        return None
    number = int(text)
    return number if number > 0 else None


def new_request_key() -> str:
    return secrets.token_hex(REQUEST_KEY_LENGTH // 2)


def clean_request_key(value) -> str:
    """The one-time key of a booking page, or "" when a request made one up badly."""
    text = str(value or "")
    if len(text) != REQUEST_KEY_LENGTH or any(ch not in "0123456789abcdef" for ch in text):
        return ""
    return text


def contact_schema(resource: Resource, kinds: list) -> FormSchema:
    """Who books, and which kind and how many places where the resource asks for them."""
    fields: list[dict] = []
    if kinds:
        fields.append({"key": KIND, "type": "choice", "label": "種別", "required": True,
                       "required_message": "種別を選んでください。",
                       "choices": [{"value": k.code, "label": k.name} for k in kinds]})
    if resource.max_places > 1:
        fields.append({"key": PLACES, "type": "number", "label": "人数・枠数", "required": True, "min": 1,
                       "max": resource.max_places, "max_digits": 3, "width": "short",
                       "hint": f"1回に{resource.max_places}まで予約できます。"})
    fields += [
        {"key": NAME, "type": "name", "label": "予約する方の氏名", "required": True},
        {"key": EMAIL, "type": "email", "label": "メールアドレス", "required": True,
         "hint": "予約の確認と、変更・取消しのためのページのお知らせを送ります。"},
        {"key": PHONE, "type": "phone", "label": "電話番号", "required": True,
         "hint": "担当課から連絡することがあります。"},
    ]
    return parse({"title": "予約", "steps": [{"key": CONTACT_STEP, "title": "予約する方", "fields": fields}]})


def questions_schema(resource: Resource) -> FormSchema | None:
    """The resource's own questions, or None. The admin refuses a definition the engine
    cannot use (reservations.admin); one that got in another way is logged and left out (the
    booking still works, and staff ask at the counter) rather than taking the page down."""
    definition = resource.questions or {}
    if not definition:
        return None
    definition = {"title": definition.get("title") or resource.name, **{k: v for k, v in definition.items() if k != "title"}}
    try:
        return parse(definition)
    except SchemaError:
        logger.exception("the questions of resource %s cannot be used", resource.code)
        return None


@dataclass
class BookingForm:
    """The booking page's inputs, validated: `ok` when everything can be booked."""

    resource: Resource
    contact: FormRun
    questions: FormRun | None
    raw: dict[str, Raw] = field(default_factory=dict)  # by step key

    @property
    def ok(self) -> bool:
        runs = [self.contact] + ([self.questions] if self.questions else [])
        return all(outcome.ok for run in runs for outcome in run.outcomes.values())

    # --- what was typed, read back -------------------------------------------------------

    @property
    def person_fields(self) -> dict:
        answers = self.contact.answers
        name = answers.get(NAME) or {}
        return {
            "name": f"{name.get('family', '')} {name.get('given', '')}".strip()[:100],
            "name_kana": f"{name.get('family_kana', '')} {name.get('given_kana', '')}".strip()[:100],
            "email": answers.get(EMAIL, ""),
            "phone": answers.get(PHONE, ""),
        }

    @property
    def kind_code(self) -> str:
        return str(self.contact.answers.get(KIND) or "")

    @property
    def places(self) -> int:
        return int(self.contact.answers.get(PLACES) or 1)

    @property
    def answers(self) -> dict:
        return dict(self.questions.answers) if self.questions else {}

    def summary(self) -> list[dict]:
        """Rows for the check page (確認): who books, then the answers to the questions."""
        rows = []
        for run in [self.contact] + ([self.questions] if self.questions else []):
            for part in run.summary():
                rows += part["items"]
        return rows

    def hidden_inputs(self) -> list[tuple[str, str]]:
        """(name, value) pairs that carry what was typed through the check page."""
        return [(name, value) for raw in self.raw.values() for name, values in raw.items() for value in values]

    # --- the page ------------------------------------------------------------------------

    def bound(self, *, show_errors: bool) -> tuple[list[BoundField], list[BoundField]]:
        contact_step = self.contact.schema.steps[0]
        contact = bind_step(self.contact, contact_step, self.raw.get(CONTACT_STEP, {}),
                            self.contact.outcomes.get(contact_step.key) if show_errors else None, {})
        questions: list[BoundField] = []
        if self.questions:
            for step in self.questions.visible:
                questions += bind_step(self.questions, step, self.raw.get(step.key, {}),
                                       self.questions.outcomes.get(step.key) if show_errors else None, {})
        return contact, questions

    def errors(self, contact: list[BoundField], questions: list[BoundField]) -> list[dict]:
        return error_summary(contact + questions)


def booking_form(resource: Resource, kinds: list, post=None, *, initial: dict[str, Raw] | None = None) -> BookingForm:
    """The form of `resource` bound to a POST (or to `initial` inputs for a first GET)."""
    contact_schema_ = contact_schema(resource, kinds)
    question_schema = questions_schema(resource)
    raw: dict[str, Raw] = {}
    steps = list(contact_schema_.steps) + (list(question_schema.steps) if question_schema else [])
    for step in steps:
        raw[step.key] = raw_from_post(post, step) if post is not None else dict((initial or {}).get(step.key, {}))
    contact = FormRun(contact_schema_, {CONTACT_STEP: raw[CONTACT_STEP]})
    questions = None
    if question_schema is not None:
        questions = FormRun(question_schema, {s.key: raw[s.key] for s in question_schema.steps})
    return BookingForm(resource, contact, questions, raw)


def prefill(identity: dict | None, account, *, kind_code: str = "") -> dict[str, Raw]:
    """Inputs a signed-in resident finds filled in (they may change them)."""
    raw: Raw = {}
    if kind_code:
        raw[KIND] = [kind_code]
    identity = identity or {}
    claims = identity.get("claims") or {}
    name = claims.get("name")
    if isinstance(name, dict):
        for part in ("family", "given", "family_kana", "given_kana"):
            if name.get(part):
                raw[f"{NAME}__{part}"] = [str(name[part])[:50]]
    elif isinstance(name, str) and name.strip():
        family, _sep, given = name.strip().replace("\u3000", " ").partition(" ")
        raw[f"{NAME}__family"], raw[f"{NAME}__given"] = [family[:50]], [given[:50]]
    email = (account.email if account is not None else "") or identity.get("email") or ""
    if email:
        raw[EMAIL] = [email]
    return {CONTACT_STEP: raw}


def staff_questions(resource: Resource, post=None, *, show_errors: bool = False):
    """The booking's own questions for a clerk booking at the counter or on the phone (書かない
    窓口: the same questions and checks as the resident's page). Returns (run, bound fields,
    errors); (None, [], []) when the resource has none."""
    schema = questions_schema(resource)
    if schema is None:
        return None, [], []
    raw = {step.key: (raw_from_post(post, step) if post is not None else {}) for step in schema.steps}
    run = FormRun(schema, raw)
    bound: list[BoundField] = []
    for step in run.visible:
        bound += bind_step(run, step, raw.get(step.key, {}), run.outcomes.get(step.key) if show_errors else None, {})
    errors = error_summary(bound) if show_errors else []
    return run, bound, errors
