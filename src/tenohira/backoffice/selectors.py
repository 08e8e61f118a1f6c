"""Every staff-facing read goes through here, and every function takes the acting user.

There is no other path from a staff page to an application, an attachment, an export or
a history: a section's data is visible only to staff with a role in that section.
Platform roles (DX管理者, 監査) and department heads (部局長) see no personal data through
these selectors; what a department head may read is their department's DX figures
(departments_for).
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from tenohira.applications.models import Attachment, Submission
from tenohira.backoffice.models import DEPARTMENT_ROLES, SECTION_ROLES, GrantStatus, Role, StaffRole
from tenohira.catalog.models import Department, Section
from tenohira.core.text import fold_width, normalize


def roles_of(user) -> set[tuple[str, int | None]]:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return set()
    cached = getattr(user, "_tenohira_roles", None)
    if cached is None:
        # A grant still waiting for its second person gives nothing.
        cached = set(StaffRole.objects.filter(user=user, status=GrantStatus.ACTIVE).values_list("role", "section_id"))
        user._tenohira_roles = cached
    return cached


def section_ids(user, roles=SECTION_ROLES) -> set[int]:
    """Sections in which `user` holds one of `roles`."""
    return {section for role, section in roles_of(user) if role in roles and section is not None}


def has_role(user, role: str, section_id: int | None = None) -> bool:
    return (role, section_id) in roles_of(user)


def is_staff_member(user) -> bool:
    return bool(roles_of(user))


def is_auditor(user) -> bool:
    return (Role.AUDITOR, None) in roles_of(user)


def is_dx_admin(user) -> bool:
    return (Role.DX_ADMIN, None) in roles_of(user)


def is_accountant(user) -> bool:
    """会計管理者: city-wide, reads fees and their reconciliation, never applications."""
    return (Role.ACCOUNTANT, None) in roles_of(user)


def department_ids(user, roles=DEPARTMENT_ROLES) -> set[int]:
    """Departments in which `user` holds one of `roles` (部局長)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return set()
    cached = getattr(user, "_tenohira_departments", None)
    if cached is None:
        cached = set(
            StaffRole.objects.filter(
                user=user, role__in=DEPARTMENT_ROLES, department__isnull=False, status=GrantStatus.ACTIVE
            )
            .values_list("role", "department_id")
        )
        user._tenohira_departments = cached
    return {department for role, department in cached if role in roles}


def is_department_head(user) -> bool:
    return bool(department_ids(user))


def departments_for(user) -> QuerySet[Department]:
    """Departments whose DX figures (insights: KPIs, savings, printouts) `user` may read:
    every department for a DX管理者, their own for a 部局長, none for anyone else."""
    if is_dx_admin(user):
        return Department.objects.all()
    return Department.objects.filter(pk__in=department_ids(user))


def sections_for(user) -> QuerySet[Section]:
    return Section.objects.filter(pk__in=section_ids(user)).select_related("department")


def submissions_for(user) -> QuerySet[Submission]:
    """Applications the user may see: those of the sections where they have a role.

    Survey responses (アンケート) are not applications: no one works on them, so they never
    enter a queue, a count of open work or an export of the queue. They are read as
    tallies (tally_procedures_for) and counted on the surveys page (survey_procedures_for)."""
    from tenohira.forms.models import FormDefinition

    surveys = FormDefinition.objects.filter(kind=FormDefinition.Kind.SURVEY).values("procedure_id")
    return (
        Submission.objects.filter(section_id__in=section_ids(user))
        .exclude(procedure_id__in=surveys)
        .select_related("procedure", "section")
    )


def get_submission_for(user, receipt_number: str) -> Submission:
    """The application, or 404 (also when it exists in a section the user does not serve:
    staff of other sections cannot even learn that a receipt number exists)."""
    submission = submissions_for(user).filter(receipt_number=receipt_number).first()
    if submission is None:
        raise Http404("submission not found")
    return submission


def attachment_for(user, receipt_number: str, attachment_id: int) -> Attachment:
    submission = get_submission_for(user, receipt_number)
    attachment = Attachment.objects.filter(submission=submission, pk=attachment_id).first()
    if attachment is None:
        raise Http404("attachment not found")
    return attachment


OPEN_STATUSES = [
    Submission.Status.RECEIVED, Submission.Status.UNDER_REVIEW, Submission.Status.RETURNED,
    Submission.Status.RESUBMITTED, Submission.Status.APPROVED,
]


def queue(
    user,
    *,
    section_id: int | None = None,
    procedure_id: int | None = None,
    status: str | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    overdue: bool = False,
    text: str = "",
    payment: str = "",
) -> QuerySet[Submission]:
    """A section queue with the filters of the queue page, newest first."""
    items = submissions_for(user)
    if payment in PAYMENT_FILTERS:
        items = items.filter(_payment_condition(payment))
    if section_id:
        items = items.filter(section_id=section_id)
    if procedure_id:
        items = items.filter(procedure_id=procedure_id)
    if status == "open":
        items = items.filter(status__in=OPEN_STATUSES)
    elif status:
        items = items.filter(status=status)
    if date_from:
        items = items.filter(submitted_at__gte=_start_of(date_from))
    if date_to:
        items = items.filter(submitted_at__lt=_start_of(date_to + dt.timedelta(days=1)))
    if overdue:
        items = items.filter(status__in=OPEN_STATUSES, due_date__lt=timezone.localdate())
    text = fold_width(text or "").strip()
    if text:
        receipt = text.upper()
        needle = normalize(text)
        condition = Q(receipt_number=receipt) | Q(receipt_number__endswith=receipt)
        if needle:
            condition |= Q(applicant_search__contains=needle)
        items = items.filter(condition)
    return items.order_by("-submitted_at", "-pk")


def _start_of(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


# --- 手数料 (payments): the queue's filter by the fee's state -----------------------------

PAYMENT_FILTERS = {
    "awaiting": "支払い待ち",
    "paid": "支払い済み",
    "flagged": "要確認",
    "expired": "期限切れ",
    "reduction_pending": "減免承認待ち",
    "refund_pending": "還付承認待ち",
}


def _payment_condition(key: str):
    """EXISTS over the application's assessments (most applications have none)."""
    from tenohira.payments.models import Assessment, Payment, Reduction, Refund

    here = OuterRef("pk")
    A = Assessment.State
    found = {
        "awaiting": Assessment.objects.filter(submission=here, state=A.AWAITING),
        "paid": Assessment.objects.filter(submission=here, state__in=[A.PAID, A.SETTLED, A.RECONCILED]),
        "flagged": Payment.objects.filter(assessment__submission=here, flagged=True),
        "expired": Assessment.objects.filter(submission=here, state=A.EXPIRED),
        "reduction_pending": Reduction.objects.filter(assessment__submission=here, state="pending"),
        "refund_pending": Refund.objects.filter(payment__assessment__submission=here, state="pending"),
    }[key]
    return Exists(found)


# --- 書かない窓口 (counter entry) ---------------------------------------------------------

COUNTER_ROLES = frozenset({Role.HANDLER, Role.APPROVER})


def counter_section_ids(user) -> set[int]:
    """Sections where `user` may enter applications at the counter (担当 or 決裁者)."""
    return section_ids(user, COUNTER_ROLES)


def counter_procedures(user):
    """Procedures of the user's counter sections that have a published form, by section."""
    from tenohira.catalog.models import Procedure
    from tenohira.forms.models import FormVersion

    return (
        Procedure.objects.filter(
            section_id__in=counter_section_ids(user), form__versions__status=FormVersion.Status.PUBLISHED
        )
        .select_related("section__department")
        .distinct()
        .order_by("section__department__order", "section__order", "section_id", "name")
    )


def counter_draft_for(user, public_id):
    """A draft being entered at the counter, or 404: it must be a counter draft (started by
    staff or handed over by the resident's code, never a draft a resident is still typing
    on their phone) of a procedure in one of the user's counter sections."""
    from tenohira.applications.models import Draft
    from tenohira.applications.services import COUNTER_OWNER_PREFIX

    draft = (
        Draft.objects.select_related("form_version__definition__procedure__section")
        .filter(
            public_id=public_id,
            owner_secret_hash__startswith=COUNTER_OWNER_PREFIX,
            form_version__definition__procedure__section_id__in=counter_section_ids(user),
        )
        .first()
    )
    if draft is None:
        raise Http404("counter draft not found")
    return draft


def handoff_draft_for(user, code: str):
    """The draft a resident's counter code names, expired or not, if its procedure is in one
    of the user's counter sections; None otherwise (unknown, used, or another section's:
    staff cannot learn that a code of another section exists)."""
    from tenohira.applications.services import draft_by_handoff_code

    draft = draft_by_handoff_code(code, include_expired=True)
    if draft is None or draft.form_version.definition.procedure.section_id not in counter_section_ids(user):
        return None
    return draft


# --- form builder and tallies (申込集計表) ----------------------------------------------

#: Who may build and publish a procedure's form: the section's 所属管理者, and DX管理者 for
#: every section. Handlers and approvers read tallies but do not change forms.
FORM_EDITOR_ROLES = frozenset({Role.SECTION_ADMIN})
#: Who may read the tallies of a section's forms (counts only, no names; the per-response
#: rows of an export stay behind the queue's own rules).
TALLY_ROLES = frozenset({Role.HANDLER, Role.APPROVER, Role.SECTION_ADMIN})


def form_sections_for(user) -> QuerySet[Section]:
    """Sections whose forms `user` may build and publish."""
    if is_dx_admin(user):
        return Section.objects.select_related("department")
    return Section.objects.filter(pk__in=section_ids(user, FORM_EDITOR_ROLES)).select_related("department")


def form_procedures_for(user):
    """Procedures whose forms `user` may build and publish (with or without a form yet)."""
    from tenohira.catalog.models import Procedure

    return Procedure.objects.filter(section__in=form_sections_for(user)).select_related("section__department")


def form_procedure_for(user, code: str):
    """The procedure whose form `user` may edit, or 404 (also when it exists in a section
    the user does not administer)."""
    procedure = form_procedures_for(user).filter(code=code).first()
    if procedure is None:
        raise Http404("procedure not found")
    return procedure


def tally_procedures_for(user):
    """Procedures with a form whose tallies `user` may read: their sections' (any section
    role), every one for a DX管理者."""
    from tenohira.catalog.models import Procedure

    items = Procedure.objects.filter(form__isnull=False).select_related("section__department", "form")
    if is_dx_admin(user):
        return items
    return items.filter(section_id__in=section_ids(user, TALLY_ROLES))


def tally_procedure_for(user, code: str):
    procedure = tally_procedures_for(user).filter(code=code).first()
    if procedure is None:
        raise Http404("procedure not found")
    return procedure


def survey_procedures_for(user):
    """Surveys (forms of kind アンケート) whose tallies and paper answers `user` may handle:
    tally_procedures_for narrowed to surveys."""
    return tally_procedures_for(user).filter(form__kind="survey")


def survey_procedure_for(user, code: str):
    procedure = survey_procedures_for(user).filter(code=code).first()
    if procedure is None:
        raise Http404("survey not found")
    return procedure


def form_steps_definitions_for(user):
    """Forms whose step statistics `user` may read: every form for a DX管理者, their
    sections' forms for a 所属管理者, none for anyone else (the figures hold no personal
    data, but they are the DX division's working material)."""
    from tenohira.forms.models import FormDefinition

    items = FormDefinition.objects.select_related("procedure__section__department")
    if is_dx_admin(user):
        return items
    return items.filter(procedure__section_id__in=section_ids(user, {Role.SECTION_ADMIN}))
