"""The staff header's navigation: links to what the signed-in user's roles allow."""

from django import template
from django.urls import NoReverseMatch, reverse

from tenohira.backoffice import selectors
from tenohira.backoffice.models import Role

register = template.Library()


def _url(name: str) -> str | None:
    try:
        return reverse(name)
    except NoReverseMatch:  # an area not installed in this deployment
        return None


def _has_resources(user) -> bool:
    """Sections with something residents book (施設・健診・来庁予約) see the reservations."""
    sections = selectors.section_ids(user)
    if not sections:
        return False
    from tenohira.reservations.selectors import sections_with_resources

    return not sections.isdisjoint(sections_with_resources())


@register.simple_tag(takes_context=True)
def staff_links(context) -> list[dict]:
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not user.is_verified():
        return []
    path = request.path
    links = []

    def add(label: str, name: str, *, exact: bool = False):
        url = _url(name)
        if url:
            current = path == url if exact else path.startswith(url)
            links.append({"label": label, "url": url, "current": current})

    if selectors.section_ids(user):
        add("申請一覧", "backoffice:queue", exact=True)
        add("一括ダウンロード", "backoffice:export")
    if selectors.section_ids(user, {Role.HANDLER, Role.APPROVER}):
        add("窓口受付", "backoffice:counter")
    if selectors.section_ids(user):
        add("手数料の承認", "staff_payments:approvals")  # 減免・還付 waiting for a second person
    if selectors.section_ids(user, selectors.FORM_EDITOR_ROLES) or selectors.is_dx_admin(user):
        add("フォーム作成", "forms:index")
        add("入力の離脱状況", "steps:index")
    if selectors.section_ids(user, selectors.TALLY_ROLES) or selectors.is_dx_admin(user):
        add("アンケート", "surveys:index")
        add("集計表", "tallies:index")
    if selectors.is_dx_admin(user) or _has_resources(user):
        add("予約", "staff_reservations:index")
    if selectors.section_ids(user) or selectors.is_dx_admin(user):
        add("業務システム連携", "integrations:deliveries")
    if selectors.is_dx_admin(user) or selectors.is_department_head(user):
        add("DX推進の状況", "insights:dashboard")
    if selectors.is_accountant(user) or selectors.is_dx_admin(user):
        add("会計", "accounting:index")
    if selectors.is_auditor(user):
        add("監査ログ", "audit:search")
    if user.is_staff and selectors.is_dx_admin(user):
        add("管理画面", "admin:index")
    add("パスワードの変更", "backoffice:password")
    return links


@register.filter
def staff_name(user) -> str:
    """「山田 花子」: family name first, as history entries show it."""
    from tenohira.backoffice.services import staff_label

    return staff_label(user)
