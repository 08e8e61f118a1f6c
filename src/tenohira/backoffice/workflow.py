"""Which role may move an application from which state to which (enforced in services).

受付 → 審査中 → (差戻し ⇄ 再提出) → 承認 / 却下 → 完了, and 取下げ by the applicant.
Only a 決裁者 approves or rejects.
"""

from tenohira.applications.history import WITHDRAWABLE  # noqa: F401 (the applicant's 取下げ, defined with the history)
from tenohira.applications.models import Submission
from tenohira.backoffice.models import Role

S = Submission.Status
APPLICANT = "applicant"

TRANSITIONS: dict[tuple[str, str], set[str]] = {
    (S.RECEIVED, S.UNDER_REVIEW): {Role.HANDLER, Role.APPROVER},
    (S.RESUBMITTED, S.UNDER_REVIEW): {Role.HANDLER, Role.APPROVER},
    (S.UNDER_REVIEW, S.RETURNED): {Role.HANDLER, Role.APPROVER},  # 差戻し: via request_correction
    (S.RETURNED, S.RESUBMITTED): {APPLICANT},  # via the applicant's correction page
    (S.UNDER_REVIEW, S.APPROVED): {Role.APPROVER},
    (S.UNDER_REVIEW, S.REJECTED): {Role.APPROVER},
    (S.APPROVED, S.COMPLETED): {Role.HANDLER, Role.APPROVER},
    (S.REJECTED, S.COMPLETED): {Role.HANDLER, Role.APPROVER},
}

# Labels of the staff buttons, by target state.
ACTION_LABELS = {
    S.UNDER_REVIEW: "審査を始める",
    S.APPROVED: "承認する",
    S.REJECTED: "却下する",
    S.COMPLETED: "完了にする",
}


def allowed(from_status: str, to_status: str, roles: set[str]) -> bool:
    return bool(TRANSITIONS.get((from_status, to_status), set()) & roles)


def next_steps(from_status: str, roles: set[str]) -> list[str]:
    """Target states the roles may choose from here (差戻し has its own form)."""
    return [
        to for (start, to), who in TRANSITIONS.items()
        if start == from_status and who & roles and to != S.RETURNED and APPLICANT not in who
    ]
