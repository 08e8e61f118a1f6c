"""Every staff URL, found by walking the URL configuration, refuses another section's data.

For each pattern under /staff/ this test fills the URL's parameters with objects of
section A (an application with an attachment, a counter draft, a handoff code) and
requests it, GET and POST, as a handler+approver of section B. Nothing of section A may
come back: the answer is 403/404/405 (or the page without A's data), and A's applicant
name and receipt number appear nowhere in the body. A new staff URL whose parameters
this test does not know fails the suite until a row is added to PARAMETERS below.
"""

from __future__ import annotations

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from tenohira.applications import services as applicant_services
from tenohira.backoffice.models import Role, StaffRole

pytestmark = pytest.mark.django_db

# Staff URLs that need no signed-in staff member on purpose.
PUBLIC = {"backoffice:login", "backoffice:logout"}
# Parameter-free views that act on an object named in the POST body: the body names
# section A's object, and the answer must be a refusal.
ACTIONS = {"backoffice:counter_start"}
# Views whose parameter-free GET legitimately answers 200 for any staff member: the test
# then checks that section A's data is absent from what they show.
LISTS = {"backoffice:queue", "backoffice:export", "backoffice:counter", "backoffice:counter_handoff",
         "backoffice:password", "audit:search", "insights:dashboard", "integrations:deliveries", "tallies:index",
         "form_files:index", "forms:index", "surveys:index", "steps:index",
         "accounting:index", "accounting:receipts", "accounting:daily", "staff_payments:approvals",
         "staff_reservations:index", "staff_lottery:index", "staff_lottery:create", "staff_lottery:provisional",
         "staff_lottery:fees", "staff_counters:list"}


def staff_patterns():
    """(namespaced name, route, view) for every URL under /staff/."""
    found = []

    def walk(patterns, prefix, namespace):
        for entry in patterns:
            if isinstance(entry, URLResolver):
                ns = entry.namespace or namespace
                walk(entry.url_patterns, prefix + str(entry.pattern), ns)
            elif isinstance(entry, URLPattern):
                route = prefix + str(entry.pattern)
                if route.startswith("staff/"):
                    found.append((f"{namespace}:{entry.name}", route, entry.callback))

    walk(get_resolver().url_patterns, "", "")
    return found


@pytest.fixture
def world(staff, make_submission, pdf_bytes):
    """Section A's private things, and a client signed in as staff of section B only."""
    submission = make_submission(family="秘匿", given="花子", family_kana="ヒトク", attachment=("a.pdf", pdf_bytes))
    attachment = submission.attachments.get()
    # A resident's draft in section A with a live handoff code.
    from tenohira.forms.models import FormVersion

    version = FormVersion.objects.get(definition__procedure=staff.procedure, status=FormVersion.Status.PUBLISHED)
    resident_draft, _ = applicant_services.start_draft(version)
    code = applicant_services.issue_handoff_code(resident_draft)
    # A counter draft begun by section A's handler.
    counter_draft = applicant_services.start_counter_draft(version, staff.handler)
    outsider = staff.other_handler
    StaffRole.objects.get_or_create(user=outsider, role=Role.APPROVER, section=staff.other_section)
    return {
        "submission": submission, "attachment": attachment, "code": code,
        "counter_draft": counter_draft, "version": version, "outsider": outsider,
    }


PARAMETERS = {
    "receipt_number": lambda w: w["submission"].receipt_number,
    "attachment_id": lambda w: str(w["attachment"].pk),
    "public_id": lambda w: str(w["counter_draft"].public_id),
    "step_key": lambda w: w["version"].parsed().steps[0].key,
    "code": lambda w: w["code"],
    # DX dashboards: the section's own department, and a report format.
    "department_id": lambda w: str(w["submission"].section.department_id),
    "fmt": lambda w: "pdf",
    # Response tallies (申込集計表) of section A's form.
    "procedure_code": lambda w: w["version"].definition.procedure.code,
    # A failed delivery of section A's application to section A's business system.
    "delivery_id": lambda w: str(_dead_delivery(w["submission"]).delivery_id),
    # A form template of the library (the page is closed to staff who build no forms).
    "template": lambda w: "juminhyo",
    # A field of section A's form in the builder (フォーム作成).
    "field_key": lambda w: w["version"].parsed().all_fields()[0].key,
    # A settlement file import (会計: closed to section staff).
    "import_id": lambda w: "1",
    # Section A's bookable resource, one of its slots and a booking by 秘匿 花子 (予約).
    "resource_code": lambda w: _reservation(w)["resource"].code,
    "slot_id": lambda w: str(_reservation(w)["slot"].pk),
    "booking_number": lambda w: _reservation(w)["booking"].number,
    # Section A's lottery and a 減免 asked on its booking (抽選・使用料).
    "lottery_id": lambda w: str(_lottery(w).pk),
    "reduction_id": lambda w: str(_reduction(w).pk),
}


def _lottery(w):
    from django.utils import timezone

    from tenohira.reservations.models import Lottery

    resource = _reservation(w)["resource"]
    now = timezone.now()
    return Lottery.objects.get_or_create(resource=resource, title="秘匿の抽選", defaults={
        "period_start": now.date(), "period_end": now.date(), "entries_open_at": now, "entries_close_at": now,
        "draw_at": now, "seed_hash": "0" * 64, "seed": "s"})[0]


def _reduction(w):
    from tenohira.reservations.models import FeeReduction

    booking = _reservation(w)["booking"]
    return FeeReduction.objects.get_or_create(booking=booking, defaults={
        "amount_yen": 1, "reason": "秘匿",
        "requested_by": StaffRole.objects.filter(section=w["submission"].section).first().user})[0]


def _reservation(w) -> dict:
    if "reservation" not in w:
        import datetime as dt

        from django.utils import timezone

        from tenohira.reservations import services as reservations
        from tenohira.reservations.models import Facility, Resource, Slot

        section = w["submission"].section
        facility = Facility.objects.create(code="hitoku", name="秘匿センター", section=section)
        resource = Resource.objects.create(code="hitoku-room", name="秘匿室", facility=facility, section=section,
                                           kind=Resource.Kind.ROOM, closes_hours_before=0)
        start = timezone.now() + dt.timedelta(days=3)
        slot = Slot.objects.create(resource=resource, starts_at=start, ends_at=start + dt.timedelta(hours=1),
                                   capacity=2)
        booking = reservations.book(reservations.Request(
            slot_id=slot.pk, person=reservations.Person(name="秘匿 花子", email="hitoku@example.jp")))
        w["reservation"] = {"resource": resource, "slot": slot, "booking": booking}
    return w["reservation"]


def _dead_delivery(submission):
    from tenohira.integrations.models import Delivery, DeliveryTarget

    target = DeliveryTarget.objects.create(name="秘匿システム", kind="webhook", section=submission.section,
                                           config={"url": "https://business.invalid/"})
    return Delivery.objects.create(target=target, submission=submission, state="dead", last_error="x")


def fill(route: str, w) -> str:
    def replace(match):
        name = match.group(2)
        assert name in PARAMETERS, f"/{route}: add a way to fill <{name}> to PARAMETERS in this test"
        return PARAMETERS[name](w)

    return "/" + re.sub(r"<(?:(\w+):)?(\w+)>", replace, route)


def test_every_staff_view_is_wrapped_in_staff_required():
    patterns = staff_patterns()
    assert len(patterns) >= 10
    for name, route, view in patterns:
        if name in PUBLIC:
            continue
        assert getattr(view, "staff_only", False), f"/{route} ({name}) is not wrapped in staff_required"


def test_another_sections_staff_get_nothing(world, staff_client):
    client = staff_client(world["outsider"])
    secret_name = "秘匿"
    receipt = world["submission"].receipt_number
    checked = 0
    for name, route, _view in staff_patterns():
        if name in PUBLIC:
            continue
        url = fill(route, world)
        for method in ("get", "post"):
            data = {"q": receipt, "receipt_number": receipt, "code": world["code"], "format": "csv_utf8",
                    "action": "continue", "to_status": "approved", "message": "x", "fields": "applicant",
                    "procedure": str(world["version"].definition.procedure_id)}
            response = getattr(client, method)(url, data)
            body = b"".join(response.streaming_content) if response.streaming else response.content
            text = body.decode("utf-8", "replace")
            if "<" in route or (name in ACTIONS and method == "post"):
                assert response.status_code in {403, 404, 405, 410}, (
                    f"{method.upper()} {url} ({name}) answered {response.status_code} to another section's staff"
                )
            else:
                assert name in LISTS | ACTIONS, f"/{route} ({name}): add it to LISTS or ACTIONS in this test"
                assert response.status_code in {200, 302, 400, 403, 404, 405}, f"{method.upper()} {url}: {response.status_code}"
            assert secret_name not in text, f"{method.upper()} {url} ({name}) shows another section's applicant"
            assert receipt not in text or name in {"backoffice:queue", "backoffice:export"} and f'value="{receipt}"' in text, (
                f"{method.upper()} {url} ({name}) shows another section's receipt number"
            )
            checked += 1
    assert checked >= 20
    world["submission"].refresh_from_db()
    assert world["submission"].status == "received"  # nothing was changed either
    if "reservation" in world:
        booking, slot = world["reservation"]["booking"], world["reservation"]["slot"]
        booking.refresh_from_db()
        slot.refresh_from_db()
        assert booking.state == "confirmed" and slot.booked == 1 and not slot.blocked
