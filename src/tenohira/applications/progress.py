"""What the status page tells a resident: where the application stands and what, if
anything, they must do, in plain words.

The workflow's state names (受付, 審査中, 差戻し, 承認 …) are words of the office; a resident,
often an older one reading on a phone, needs a sentence: what is happening, what happens
next, and what is theirs to do.
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from tenohira.applications.models import Submission

Status = Submission.Status

# One line per step of the history (「これまでの経過」).
HISTORY = {
    Status.RECEIVED: gettext_lazy("申請を受け付けました"),
    Status.UNDER_REVIEW: gettext_lazy("担当課が内容の確認を始めました"),
    Status.RETURNED: gettext_lazy("申請内容の修正をお願いしました"),
    Status.RESUBMITTED: gettext_lazy("修正した申請を受け付けました"),
    Status.APPROVED: gettext_lazy("審査が終わり、申請が認められました"),
    Status.REJECTED: gettext_lazy("審査の結果、申請は認められませんでした"),
    Status.COMPLETED: gettext_lazy("手続きが終わりました"),
    Status.WITHDRAWN: gettext_lazy("申請が取り下げられました"),
}


def history_label(status: str) -> str:
    try:
        return str(HISTORY[Status(status)])
    except ValueError:
        return status


def explain(submission: Submission, correction=None) -> dict[str, str]:
    """{"now": what is happening, "todo": what the resident must do} for the status page.
    `correction` is the open 差戻し, if any (its deadline is part of the request)."""
    section = submission.section.name
    days = submission.procedure.processing_days
    eta = _("（目安: %(days)s日）") % {"days": days} if days else ""
    status = submission.status
    if status in {Status.RECEIVED, Status.UNDER_REVIEW, Status.RESUBMITTED}:
        now = {
            Status.RECEIVED: _("申請を受け付けました。%(section)sが内容を確認します。"),
            Status.UNDER_REVIEW: _("申請を受け付けました。%(section)sが内容を確認しています。"),
            Status.RESUBMITTED: _("修正した申請を受け付けました。%(section)sがもう一度確認しています。"),
        }[status] % {"section": section}
        return {"now": now + _("結果はメールでお知らせします%(eta)s。") % {"eta": eta},
                "todo": _("今はありません。結果のお知らせをお待ちください。")}
    if status == Status.RETURNED:
        if correction is None:  # the request's deadline has passed: the link is closed
            return {
                "now": _("申請内容の修正をお願いしていましたが、修正の期限が過ぎました。"),
                "todo": _("%(section)sにお問い合わせください。") % {"section": section},
            }
        return {
            "now": _("申請内容の修正をお願いしています。"),
            "todo": _("メールでお送りした「修正のお願い」のリンクから、申請内容を修正してください（期限: %(date)s）。"
                      "メールが見つからないときは、%(section)sにお問い合わせください。")
            % {"date": _local_date(correction.expires_at), "section": section},
        }
    if status == Status.APPROVED:
        return {"now": _("審査が終わり、申請が認められました。"),
                "todo": _("このあとの受け取りや手続きは、%(section)sからのメールでお知らせします。") % {"section": section}}
    if status == Status.REJECTED:
        return {"now": _("審査の結果、申請は認められませんでした。理由は下の「これまでの経過」に書いてあります。"),
                "todo": _("理由についてのご質問は、%(section)sにお問い合わせください。") % {"section": section}}
    if status == Status.COMPLETED:
        return {"now": _("手続きが終わりました。"), "todo": _("ありません。")}
    if status == Status.WITHDRAWN:
        return {"now": _("申請は取り下げられました。審査は行いません。"),
                "todo": _("もう一度申し込むときは、新しく申請してください。")}
    return {"now": "", "todo": ""}


def _local_date(moment) -> str:
    from tenohira.core.fiscal import local

    at = local(moment)
    return f"{at.year}年{at.month}月{at.day}日"


def cannot_withdraw(submission: Submission) -> str:
    """Why 取下げ is refused, in the status page's words instead of a state name."""
    return _("%(now)sそのため、この申請は取り下げられません。%(section)sにお問い合わせください。") % {
        "now": explain(submission)["now"], "section": submission.section.name,
    }


def cannot_correct(submission: Submission) -> str:
    return _("%(now)sそのため、この申請は修正できません。") % {"now": explain(submission)["now"]}
