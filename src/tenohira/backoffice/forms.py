"""Input of the staff pages: sign-in, the queue's filters, workflow actions, 差戻し."""

from __future__ import annotations

from django import forms
from django.contrib.auth.forms import PasswordChangeForm

from tenohira.applications.models import Submission
from tenohira.catalog.models import Procedure

# Fields a correction can ask about: those a resident typed (not computed, not text).
NOT_CORRECTABLE = {"computed", "guidance"}


class LoginForm(forms.Form):
    username = forms.CharField(label="ユーザー名", max_length=150)
    password = forms.CharField(label="パスワード", strip=False, widget=forms.PasswordInput)
    code = forms.CharField(
        label="確認コード（6桁）", max_length=8,
        help_text="認証アプリ（Google Authenticator など）に表示される6桁の数字です。",
    )

    def clean_code(self):
        code = self.cleaned_data["code"].strip().replace(" ", "")
        if not (code.isdigit() and len(code) in (6, 8)):
            raise forms.ValidationError("確認コードは認証アプリに表示される6桁の数字で入力してください。")
        return code


class StaffPasswordChangeForm(PasswordChangeForm):
    """Django's form: the old password, then the new one twice, checked by
    AUTH_PASSWORD_VALIDATORS (12 characters or more, not common, not all digits, not
    like the user name)."""


STATUS_CHOICES = [
    ("open", "未完了（受付〜承認）"),
    ("all", "すべて"),
    *Submission.Status.choices,
]


class QueueFilterForm(forms.Form):
    """The queue's filters, read from the query string. Invalid values are reported and
    left out; the rest of the filters still apply."""

    section = forms.TypedChoiceField(label="所属", coerce=int, required=False)
    procedure = forms.TypedChoiceField(label="手続き", coerce=int, required=False, empty_value=None)
    status = forms.ChoiceField(label="状態", choices=STATUS_CHOICES, required=False)
    date_from = forms.DateField(label="申請日（から）", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label="申請日（まで）", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    overdue = forms.BooleanField(label="処理期限を過ぎたものだけ", required=False)
    q = forms.CharField(label="受付番号・氏名・フリガナ", max_length=100, required=False)

    def __init__(self, data, *, sections, procedures):
        super().__init__(data)
        self.fields["section"].choices = [(s.pk, s.name) for s in sections]
        self.fields["procedure"].choices = [("", "すべての手続き")] + [(p.pk, p.name) for p in procedures]

    def clean(self):
        data = super().clean()
        date_from, date_to = data.get("date_from"), data.get("date_to")
        if date_from and date_to and date_from > date_to:
            self.add_error("date_to", "「申請日（まで）」は「申請日（から）」と同じか後の日にしてください。")
        return data

    def filters(self) -> dict:
        """The filters for selectors.queue, leaving out any that did not validate."""
        valid = {
            name: self.cleaned_data.get(name) for name in self.fields
            if name not in self.errors and name in getattr(self, "cleaned_data", {})
        }
        status = valid.get("status") or "open"
        return {
            "procedure_id": valid.get("procedure"),
            "status": None if status == "all" else status,
            "date_from": valid.get("date_from"),
            "date_to": valid.get("date_to"),
            "overdue": bool(valid.get("overdue")),
            "text": valid.get("q") or "",
        }


def procedures_of(section_id: int):
    """The procedures a section handles (catalog data, not personal data)."""
    return Procedure.objects.filter(section_id=section_id).order_by("name").only("pk", "name")


class TransitionForm(forms.Form):
    to = forms.ChoiceField(choices=Submission.Status.choices)
    comment = forms.CharField(label="コメント", required=False, max_length=2000)


class CorrectionForm(forms.Form):
    """差戻し: one checkbox per top-level field of the submission's form version, each with
    an optional note, and the message to the applicant."""

    message = forms.CharField(label="申請者へのメッセージ", max_length=4000, required=False)

    def __init__(self, data=None, *, schema):
        super().__init__(data)
        self.choices = [f for f in schema.all_fields() if f.type not in NOT_CORRECTABLE]

    def items(self) -> list[dict]:
        chosen = set(self.data.getlist("fields")) if self.data else set()
        return [
            {"path": f.key, "note": (self.data.get(f"note-{f.key}") or "").strip()[:500]}
            for f in self.choices if f.key in chosen
        ]

    def rows(self) -> list[dict]:
        """What the template shows: each field, whether it is ticked, its typed note."""
        chosen = set(self.data.getlist("fields")) if self.data else set()
        return [
            {"key": f.key, "label": f.label, "checked": f.key in chosen,
             "note": (self.data.get(f"note-{f.key}") or "") if self.data else ""}
            for f in self.choices
        ]

