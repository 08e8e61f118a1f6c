from django.db import models
from django.utils.translation import gettext_lazy as _


class SitePage(models.Model):
    """A page every public site carries (お問い合わせ, プライバシーポリシー, ...), written by
    the DX division in the admin. The set of pages is fixed because every footer links to
    each of them; their words are the municipality's."""

    class Slug(models.TextChoices):
        CONTACT = "contact", _("お問い合わせ")
        PRIVACY = "privacy", _("プライバシーポリシー")
        ACCESSIBILITY = "accessibility", _("アクセシビリティ方針")
        TERMS = "terms", _("利用規約")

    slug = models.SlugField(_("ページ"), choices=Slug.choices, unique=True)
    title = models.CharField(_("見出し"), max_length=100)
    body = models.TextField(
        _("本文"),
        help_text=_(
            "空行で段落を分けます。「## 」で始まる行は小見出し、「- 」で始まる行は箇条書きになります。"
            "URL とメールアドレスはリンクになります。{市区町村名}、{一時保存の日数} と {予約の保存日数} は"
            "設定の値に置き換わります。"
        ),
    )
    updated_at = models.DateTimeField(_("最終更新"), auto_now=True)

    class Meta:
        verbose_name = _("サイトのページ")
        verbose_name_plural = _("サイトのページ")
        ordering = ["pk"]

    def __str__(self) -> str:
        return self.title
