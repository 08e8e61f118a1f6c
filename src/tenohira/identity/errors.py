"""What went wrong during a sign-in or a signature, in words a resident can act on.

Each failure has a short code (kept in the audit record; never a token or a name) and a
Japanese title and advice (shown on the failure page). The resident's draft is never
touched by a failure: the page links back to where they were.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

# code: (title, what happened and what to do, HTTP status)
FAILURES = {
    "state": (
        _("ログインを確認できませんでした"),
        _("ログインの手続きが途中で切り替わったか、時間がたちすぎました。お手数ですが、もう一度ログインしてください。"),
        400,
    ),
    "replay": (
        _("ログインを確認できませんでした"),
        _("同じログイン情報が二度使われました。安全のため受け付けていません。もう一度はじめからログインしてください。"),
        400,
    ),
    "expired": (
        _("ログインの有効期限が切れました"),
        _("認証サービスからの確認の期限が過ぎていました。もう一度ログインしてください。"),
        400,
    ),
    "bad_signature": (
        _("ログインを確認できませんでした"),
        _("認証サービスからの情報の署名を確認できませんでした。時間をおいてもう一度ログインしてください。続く場合はお問い合わせください。"),
        400,
    ),
    "wrong_issuer": (
        _("ログインを確認できませんでした"),
        _("想定していない認証サービスからの情報でした。もう一度ログインしてください。続く場合はお問い合わせください。"),
        400,
    ),
    "wrong_audience": (
        _("ログインを確認できませんでした"),
        _("この市のサービスあてではない情報でした。もう一度ログインしてください。続く場合はお問い合わせください。"),
        400,
    ),
    "invalid_token": (
        _("ログインを確認できませんでした"),
        _("認証サービスからの情報に不備がありました。もう一度ログインしてください。続く場合はお問い合わせください。"),
        400,
    ),
    "cancelled": (
        _("ログインを中止しました"),
        _("認証サービスで「やめる」が選ばれました。入力した内容はそのまま残っています。必要になったら、もう一度ログインしてください。"),
        200,
    ),
    "provider_error": (
        _("ログインできませんでした"),
        _("認証サービスでエラーが起きました。時間をおいてもう一度お試しください。"),
        502,
    ),
    "unavailable": (
        _("認証サービスにつながりません"),
        _("認証サービスが応答しませんでした。入力した内容はそのまま残っています。時間をおいてもう一度お試しください。"),
        503,
    ),
    "unknown_provider": (
        _("この方法ではログインできません"),
        _("選んだログインの方法は、今は使えません。ほかの方法を選んでください。"),
        404,
    ),
    "sign_cancelled": (
        _("電子署名を中止しました"),
        _("認証サービスで「やめる」が選ばれました。申請はまだ送信されていません。内容を確認して、もう一度署名してください。"),
        200,
    ),
    "revoked": (
        _("電子署名を受け付けられませんでした"),
        _("マイナンバーカードの署名用電子証明書が失効しています。住所や氏名が変わると失効します。お住まいの市区町村の窓口で更新してから、もう一度お試しください。"),
        400,
    ),
    "signature_invalid": (
        _("電子署名を受け付けられませんでした"),
        _("電子署名を確認できませんでした。内容を確認して、もう一度署名してください。"),
        400,
    ),
    "signer_mismatch": (
        _("電子署名を受け付けられませんでした"),
        _("ログインした方とは別のカードで署名されました。ログインしたご本人のマイナンバーカードで署名してください。"),
        400,
    ),
    "revocation_unknown": (
        _("電子署名を確認できませんでした"),
        _("証明書の失効情報を確認できませんでした。時間をおいてもう一度署名してください。"),
        503,
    ),
}


class IdentityFailure(Exception):
    """A sign-in or signature that must not be accepted. `code` is one of FAILURES."""

    def __init__(self, code: str, detail: str = ""):
        assert code in FAILURES, code
        super().__init__(code)
        self.code = code
        # A short technical note for the audit record (e.g. "connect timeout"), never a token.
        self.detail = detail[:200]

    @property
    def title(self):
        return FAILURES[self.code][0]

    @property
    def advice(self):
        return FAILURES[self.code][1]

    @property
    def status(self) -> int:
        return FAILURES[self.code][2]
