"""Events of the resident side that higher apps react to.

applications sits below identity (マイページ) and backoffice, so it cannot call them;
it announces what happened and they connect receivers (identity.receivers).
"""

from django.dispatch import Signal

#: A draft was started, or an identity was attached to a draft already started (a
#: resident who signs in part-way). kwargs: draft, identity (the evidence dict stored on
#: the draft, or None for an anonymous start).
draft_started = Signal()

#: A submission was stored (sent inside its transaction: a receiver's rows commit with
#: it or not at all). kwargs: submission. Not sent again for a double tap or a retry.
#: A receiver may refuse it by raising SubmissionRefused.
submitted = Signal()

#: The status of a submission changed (applications.history.record_event: staff, the
#: applicant's 再提出 or 取下げ, the counter), sent inside the change's transaction.
#: kwargs: submission, from_status, to_status.
status_changed = Signal()


class SubmissionRefused(Exception):
    """Raised by a `submitted` receiver when the application cannot be accepted as it is
    (the collection day chosen was taken a moment ago). The submission's transaction rolls
    back, so nothing is stored; the draft keeps every answer, and the resident is taken
    back to the page holding `field_key` with `message` shown by that field."""

    def __init__(self, message: str, *, field_key: str = ""):
        super().__init__(message)
        self.message = message
        self.field_key = field_key
