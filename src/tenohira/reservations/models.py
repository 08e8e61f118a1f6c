"""Reservations (予約): resources with slots of limited capacity, the bookings that take
places in them, lotteries and waiting lists, and the counters' congestion.

Capacity lives on the slot (`Slot.booked` ≤ `Slot.capacity`, and per kind of examination
on `SlotKind`), enforced by the database: a booking takes its places with one conditional
UPDATE (`booked = booked + n WHERE booked + n <= capacity`), which PostgreSQL runs under
the row's lock, and a CHECK constraint refuses anything that would still overbook. A
booking gives its places back exactly once: only the UPDATE that moves it out of a
holding state (HOLDING) returns them. Rules: docs/reservations.md.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

# A booking number read out on the phone: no 0/O, 1/I/L.
NUMBER_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


def new_booking_number() -> str:
    raw = "".join(secrets.choice(NUMBER_ALPHABET) for _ in range(8))
    return f"{raw[:4]}-{raw[4:]}"


def new_token() -> str:
    return secrets.token_urlsafe(24)


class Facility(models.Model):
    """A place residents go to: a community centre, a health centre, the city hall."""

    code = models.SlugField(_("施設コード"), max_length=50, unique=True)
    name = models.CharField(_("施設名"), max_length=100)
    section = models.ForeignKey("catalog.Section", on_delete=models.PROTECT, related_name="facilities",
                                verbose_name=_("所管課"))
    address = models.CharField(_("所在地"), max_length=200, blank=True)
    access = models.TextField(_("交通・案内"), blank=True)
    order = models.PositiveIntegerField(_("表示順"), default=0)

    class Meta:
        verbose_name = _("施設")
        verbose_name_plural = _("施設")
        ordering = ["order", "name"]

    def __str__(self) -> str:
        return self.name


class Resource(models.Model):
    """What is booked: a room or court, a check-up session, a class, a counter window, a
    collection route. Staff see a resource's bookings when they work in its section."""

    class Kind(models.TextChoices):
        ROOM = "room", _("施設（部屋・コート）")
        CHECKUP = "checkup", _("健診")
        CLASS = "class", _("教室・講座")
        VACCINATION = "vaccination", _("予防接種")
        CHILDCARE = "childcare", _("一時預かり")
        COUNTER = "counter", _("窓口（来庁予約）")
        COLLECTION = "collection", _("粗大ごみ収集")

    class Allocation(models.TextChoices):
        FIRST_COME = "first_come", _("先着順")
        LOTTERY = "lottery", _("抽選")

    code = models.SlugField(_("コード"), max_length=50, unique=True)
    name = models.CharField(_("名前"), max_length=100)
    facility = models.ForeignKey(Facility, on_delete=models.PROTECT, related_name="resources", verbose_name=_("施設"))
    section = models.ForeignKey("catalog.Section", on_delete=models.PROTECT, related_name="resources",
                                verbose_name=_("担当課"))
    kind = models.CharField(_("種類"), max_length=20, choices=Kind.choices)
    description = models.TextField(_("説明"), blank=True)
    # Words residents search with (「テニス」「健診」「転入」): found by what they want to do.
    keywords = models.CharField(_("検索語"), max_length=300, blank=True)
    # The procedure this booking belongs to (来庁予約 for 転入届, 乳幼児健診), if any.
    procedure = models.ForeignKey("catalog.Procedure", on_delete=models.SET_NULL, null=True, blank=True,
                                  related_name="resources", verbose_name=_("手続き"))
    bring = models.TextField(_("持ち物"), blank=True)
    # Collection routes serve one district (地区); the 粗大ごみ form books on the resident's.
    district = models.CharField(_("地区"), max_length=50, blank=True)
    allocation = models.CharField(_("受付方法"), max_length=20, choices=Allocation.choices,
                                  default=Allocation.FIRST_COME)
    requires_review = models.BooleanField(_("仮予約の後に職員が確定する"), default=False)
    # The booking's own questions: a schema of the form engine (forms.schema), one page.
    questions = models.JSONField(_("予約時の質問"), default=dict, blank=True)
    opens_days_ahead = models.PositiveIntegerField(_("何日前から予約できるか"), default=60)
    closes_hours_before = models.PositiveIntegerField(_("何時間前まで予約できるか"), default=24)
    change_hours_before = models.PositiveIntegerField(_("何時間前まで変更・取消しできるか"), default=24)
    max_active_per_person = models.PositiveIntegerField(_("1人が持てる予約の数"), default=2)
    max_places = models.PositiveIntegerField(_("1回の予約の人数・枠数の上限"), default=1)
    fee_yen = models.PositiveIntegerField(_("使用料・手数料（円）"), default=0)
    # Unpaid bookings are cancelled this many days after they were made (0: no deadline).
    pay_within_days = models.PositiveIntegerField(_("支払期限（予約から何日）"), default=7)
    active = models.BooleanField(_("受付中"), default=True)
    order = models.PositiveIntegerField(_("表示順"), default=0)

    class Meta:
        verbose_name = _("予約対象")
        verbose_name_plural = _("予約対象")
        ordering = ["facility__order", "order", "name"]

    def __str__(self) -> str:
        return f"{self.facility.name} {self.name}"


class ResourceKind(models.Model):
    """A kind of booking inside one slot with its own places (4か月児健診, 1歳6か月児健診)."""

    resource = models.ForeignKey(Resource, on_delete=models.CASCADE, related_name="kinds")
    code = models.SlugField(_("コード"), max_length=50)
    name = models.CharField(_("名前"), max_length=100)
    order = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("予約の種別")
        verbose_name_plural = _("予約の種別")
        ordering = ["order", "pk"]
        constraints = [models.UniqueConstraint(fields=["resource", "code"], name="resource_kind_unique")]

    def __str__(self) -> str:
        return self.name


class OpeningRule(models.Model):
    """When a resource opens: on these weekdays, from start to end, in slots of so many
    minutes with so many places (per kind where the resource has kinds). Slots are made
    from the rules (services.generate_slots), skipping days the business calendar
    (core.calendar) closes when `business_days_only`."""

    resource = models.ForeignKey(Resource, on_delete=models.CASCADE, related_name="rules")
    weekdays = models.CharField(_("曜日（0=月…6=日）"), max_length=7, default="01234")
    start = models.TimeField(_("開始"))
    end = models.TimeField(_("終了"))
    slot_minutes = models.PositiveIntegerField(_("1枠の長さ（分）"))
    capacity = models.PositiveIntegerField(_("1枠の定員"))
    # {kind code: places} for resources with kinds; their sum need not equal capacity.
    kind_capacities = models.JSONField(_("種別ごとの定員"), default=dict, blank=True)
    business_days_only = models.BooleanField(_("開庁日のみ"), default=True)
    valid_from = models.DateField(_("適用開始日"))
    valid_until = models.DateField(_("適用終了日"), null=True, blank=True)

    class Meta:
        verbose_name = _("開設ルール")
        verbose_name_plural = _("開設ルール")

    def __str__(self) -> str:
        return f"{self.resource} {self.weekdays} {self.start}-{self.end}"


class Slot(models.Model):
    resource = models.ForeignKey(Resource, on_delete=models.CASCADE, related_name="slots")
    starts_at = models.DateTimeField(_("開始日時"))
    ends_at = models.DateTimeField(_("終了日時"))
    capacity = models.PositiveIntegerField(_("定員"))
    booked = models.PositiveIntegerField(_("予約済み"), default=0)
    # 休止 (maintenance, an event): nobody books it; bookings already made stay until staff act.
    blocked = models.BooleanField(_("休止"), default=False)
    block_reason = models.CharField(_("休止の理由"), max_length=200, blank=True)
    # Slots raffled by a lottery are not booked directly until it is drawn.
    lottery = models.ForeignKey("Lottery", on_delete=models.SET_NULL, null=True, blank=True, related_name="slots")

    class Meta:
        verbose_name = _("予約枠")
        verbose_name_plural = _("予約枠")
        ordering = ["starts_at"]
        constraints = [
            models.UniqueConstraint(fields=["resource", "starts_at"], name="slot_unique_start"),
            models.CheckConstraint(condition=Q(booked__lte=F("capacity")), name="slot_never_overbooked"),
        ]
        indexes = [models.Index(fields=["starts_at", "resource"], name="slot_start_resource_idx")]

    def __str__(self) -> str:
        return f"{self.resource} {self.starts_at:%Y-%m-%d %H:%M}"

    @property
    def free(self) -> int:
        return 0 if self.blocked else max(self.capacity - self.booked, 0)


class SlotKind(models.Model):
    """Places of one kind inside a slot; a booking of that kind takes from both."""

    slot = models.ForeignKey(Slot, on_delete=models.CASCADE, related_name="kinds")
    kind = models.ForeignKey(ResourceKind, on_delete=models.CASCADE, related_name="+")
    capacity = models.PositiveIntegerField(_("定員"))
    booked = models.PositiveIntegerField(_("予約済み"), default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["slot", "kind"], name="slot_kind_unique"),
            models.CheckConstraint(condition=Q(booked__lte=F("capacity")), name="slot_kind_never_overbooked"),
        ]

    def __str__(self) -> str:
        return f"{self.slot} {self.kind}"


class Booking(models.Model):
    class State(models.TextChoices):
        PROVISIONAL = "provisional", _("仮予約（確認中）")
        CONFIRMED = "confirmed", _("予約確定")
        OFFERED = "offered", _("空きのご案内中")
        CHECKED_IN = "checked_in", _("来所済み")
        NO_SHOW = "no_show", _("来所なし")
        CANCELLED = "cancelled", _("取消し")
        LAPSED = "lapsed", _("期限切れ")
        REJECTED = "rejected", _("お受けできませんでした")

    class Channel(models.TextChoices):
        WEB = "web", _("インターネット")
        COUNTER = "counter", _("窓口")
        PHONE = "phone", _("電話")
        LOTTERY = "lottery", _("抽選")
        WAITLIST = "waitlist", _("キャンセル待ち")
        APPLICATION = "application", _("申請と一緒に")

    number = models.CharField(_("予約番号"), max_length=9, unique=True, default=new_booking_number)
    # The resident's link to see, change or cancel (e-mail, done page): not guessable.
    token = models.CharField(max_length=43, unique=True, default=new_token, editable=False)
    slot = models.ForeignKey(Slot, on_delete=models.PROTECT, related_name="bookings", verbose_name=_("予約枠"))
    resource = models.ForeignKey(Resource, on_delete=models.PROTECT, related_name="bookings")
    kind = models.ForeignKey(ResourceKind, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                             verbose_name=_("種別"))
    places = models.PositiveIntegerField(_("人数・枠数"), default=1)
    state = models.CharField(_("状態"), max_length=20, choices=State.choices, default=State.CONFIRMED)
    channel = models.CharField(_("受付の方法"), max_length=20, choices=Channel.choices, default=Channel.WEB)
    name = models.CharField(_("氏名"), max_length=100)
    name_kana = models.CharField(_("フリガナ"), max_length=100, blank=True)
    email = models.EmailField(_("メールアドレス"), blank=True)
    phone = models.CharField(_("電話番号"), max_length=20, blank=True)
    answers = models.JSONField(_("質問への回答"), default=dict, blank=True)
    account = models.ForeignKey("identity.Account", on_delete=models.SET_NULL, null=True, blank=True,
                                related_name="bookings")
    # Who the limit per person counts against: a hash of the account or the e-mail address.
    person_key = models.CharField(max_length=64, db_index=True)
    submission = models.ForeignKey("applications.Submission", on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="bookings")
    # One key per booking page shown: a double tap or a resent request finds this booking.
    request_key = models.CharField(max_length=64, unique=True, null=True, blank=True)
    booked_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                  related_name="+", verbose_name=_("代理で予約した職員"))
    fee_yen = models.PositiveIntegerField(_("使用料（円）"), default=0)
    reduction_yen = models.PositiveIntegerField(_("減免額（円）"), default=0)
    reduction_reason = models.CharField(_("減免の理由"), max_length=200, blank=True)
    pay_by = models.DateTimeField(_("支払期限"), null=True, blank=True)
    paid_at = models.DateTimeField(_("支払日時"), null=True, blank=True)
    offer_expires_at = models.DateTimeField(_("ご案内の期限"), null=True, blank=True)
    created_at = models.DateTimeField(_("予約日時"), auto_now_add=True)
    confirmed_at = models.DateTimeField(_("確定日時"), null=True, blank=True)
    cancelled_at = models.DateTimeField(_("取消日時"), null=True, blank=True)
    cancel_reason = models.CharField(_("取消しの理由"), max_length=200, blank=True)
    checked_in_at = models.DateTimeField(_("来所日時"), null=True, blank=True)
    reminded_at = models.DateTimeField(_("前日のお知らせ"), null=True, blank=True)

    class Meta:
        verbose_name = _("予約")
        verbose_name_plural = _("予約")
        ordering = ["slot__starts_at", "created_at"]
        indexes = [
            models.Index(fields=["slot", "state"], name="booking_slot_state_idx"),
            models.Index(fields=["person_key", "state"], name="booking_person_state_idx"),
            models.Index(fields=["state", "offer_expires_at"], name="booking_offer_idx",
                         condition=Q(state="offered")),
            models.Index(fields=["state", "pay_by"], name="booking_unpaid_idx",
                         condition=Q(pay_by__isnull=False, paid_at__isnull=True)),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def amount_due(self) -> int:
        return max(self.fee_yen - self.reduction_yen, 0)


#: States in which a booking occupies its places (Slot.booked counts them).
HOLDING = (
    Booking.State.PROVISIONAL, Booking.State.CONFIRMED, Booking.State.OFFERED,
    Booking.State.CHECKED_IN, Booking.State.NO_SHOW,
)
#: States a resident may still cancel from.
CANCELLABLE = (Booking.State.PROVISIONAL, Booking.State.CONFIRMED, Booking.State.OFFERED)


class Lottery(models.Model):
    """A monthly draw (抽選) for a resource's slots in a period. The seed's SHA-256 is
    published when entries open and the seed itself after the draw, so anyone can re-run
    the draw from the seed and the published entries and check the result."""

    class State(models.TextChoices):
        OPEN = "open", _("受付中")
        CLOSED = "closed", _("受付終了")
        DRAWN = "drawn", _("抽選済み")

    resource = models.ForeignKey(Resource, on_delete=models.PROTECT, related_name="lotteries")
    title = models.CharField(_("名前"), max_length=200)
    period_start = models.DateField(_("利用期間の初日"))
    period_end = models.DateField(_("利用期間の末日"))
    entries_open_at = models.DateTimeField(_("申込み開始"))
    entries_close_at = models.DateTimeField(_("申込み締切"))
    draw_at = models.DateTimeField(_("抽選日時"))
    max_wishes = models.PositiveIntegerField(_("希望の数"), default=3)
    # [{"code": "resident", "label": "市内在住・在勤"}, ...]: earlier groups are drawn first.
    priority_rules = models.JSONField(_("優先の順"), default=list, blank=True)
    seed_hash = models.CharField(_("シードのSHA-256"), max_length=64)
    seed = models.CharField(_("シード"), max_length=64, blank=True)
    state = models.CharField(_("状態"), max_length=10, choices=State.choices, default=State.OPEN)
    drawn_at = models.DateTimeField(_("抽選した日時"), null=True, blank=True)
    result_digest = models.CharField(_("結果のSHA-256"), max_length=64, blank=True)
    # {slot id: places} as drawn: published with the entries so the draw can be re-run
    # after the slots' counts have moved on (cancellations, blocks).
    capacities = models.JSONField(_("抽選した枠ごとの数"), default=dict, blank=True)

    class Meta:
        verbose_name = _("抽選")
        verbose_name_plural = _("抽選")
        ordering = ["-entries_open_at"]

    def __str__(self) -> str:
        return self.title


class LotteryEntry(models.Model):
    class State(models.TextChoices):
        ENTERED = "entered", _("申込み済み")
        WON = "won", _("当選")
        LOST = "lost", _("落選")
        WITHDRAWN = "withdrawn", _("取下げ")

    lottery = models.ForeignKey(Lottery, on_delete=models.CASCADE, related_name="entries")
    number = models.PositiveIntegerField(_("申込番号"))
    wishes = models.JSONField(_("希望の枠（順に）"), default=list)  # slot ids
    priority = models.PositiveIntegerField(_("優先の順位"), default=0)  # index in priority_rules
    places = models.PositiveIntegerField(_("人数・枠数"), default=1)
    name = models.CharField(_("氏名"), max_length=100)
    email = models.EmailField(_("メールアドレス"), blank=True)
    phone = models.CharField(_("電話番号"), max_length=20, blank=True)
    answers = models.JSONField(default=dict, blank=True)
    account = models.ForeignKey("identity.Account", on_delete=models.SET_NULL, null=True, blank=True,
                                related_name="+")
    person_key = models.CharField(max_length=64)
    request_key = models.CharField(max_length=64, unique=True, null=True, blank=True)
    token = models.CharField(max_length=43, unique=True, default=new_token, editable=False)
    state = models.CharField(_("状態"), max_length=10, choices=State.choices, default=State.ENTERED)
    booking = models.OneToOneField(Booking, on_delete=models.SET_NULL, null=True, blank=True, related_name="entry")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("抽選の申込み")
        verbose_name_plural = _("抽選の申込み")
        ordering = ["lottery", "number"]
        constraints = [
            models.UniqueConstraint(fields=["lottery", "number"], name="lottery_entry_number"),
            models.UniqueConstraint(fields=["lottery", "person_key"], name="lottery_one_entry_per_person",
                                    condition=~Q(state="withdrawn")),
        ]

    def __str__(self) -> str:
        return f"{self.lottery} #{self.number}"


class WaitlistEntry(models.Model):
    """キャンセル待ち: when a place of the slot is freed, the first waiting is offered it
    with a hold that expires (a Booking in state OFFERED), then the next."""

    class State(models.TextChoices):
        WAITING = "waiting", _("待っています")
        OFFERED = "offered", _("ご案内中")
        ACCEPTED = "accepted", _("予約になりました")
        LAPSED = "lapsed", _("期限切れ")
        WITHDRAWN = "withdrawn", _("取下げ")

    slot = models.ForeignKey(Slot, on_delete=models.CASCADE, related_name="waitlist")
    kind = models.ForeignKey(ResourceKind, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    places = models.PositiveIntegerField(default=1)
    name = models.CharField(_("氏名"), max_length=100)
    name_kana = models.CharField(_("フリガナ"), max_length=100, blank=True)
    email = models.EmailField(_("メールアドレス"), blank=True)
    phone = models.CharField(_("電話番号"), max_length=20, blank=True)
    answers = models.JSONField(default=dict, blank=True)
    account = models.ForeignKey("identity.Account", on_delete=models.SET_NULL, null=True, blank=True,
                                related_name="+")
    person_key = models.CharField(max_length=64)
    token = models.CharField(max_length=43, unique=True, default=new_token, editable=False)
    state = models.CharField(_("状態"), max_length=10, choices=State.choices, default=State.WAITING)
    booking = models.OneToOneField(Booking, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="waitlist_entry")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("キャンセル待ち")
        verbose_name_plural = _("キャンセル待ち")
        ordering = ["created_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["slot", "person_key"], name="waitlist_once_per_slot",
                                    condition=Q(state__in=["waiting", "offered"])),
        ]
        indexes = [models.Index(fields=["slot", "state", "created_at"], name="waitlist_queue_idx")]

    def __str__(self) -> str:
        return f"{self.slot} {self.name}"


class Counter(models.Model):
    """窓口: a counter residents queue at; its congestion is shown to them."""

    code = models.SlugField(_("コード"), max_length=50, unique=True)
    name = models.CharField(_("窓口名"), max_length=100)
    facility = models.ForeignKey(Facility, on_delete=models.PROTECT, related_name="counters")
    section = models.ForeignKey("catalog.Section", on_delete=models.PROTECT, related_name="counters")
    # Procedures done at this counter: their pages show its congestion.
    procedures = models.ManyToManyField("catalog.Procedure", blank=True, related_name="counters")
    # For an estimate when the ticket machine sends only the number waiting.
    minutes_per_person = models.PositiveIntegerField(_("1人あたりの目安（分）"), default=5)
    # The POS facility name (insights' cashless data) whose transactions show typical congestion.
    pos_facility = models.CharField(_("POSの施設名"), max_length=100, blank=True)
    order = models.PositiveIntegerField(default=0)
    active = models.BooleanField(default=True)

    class Meta:
        verbose_name = _("窓口")
        verbose_name_plural = _("窓口")
        ordering = ["order", "name"]

    def __str__(self) -> str:
        return self.name


class TicketMachine(models.Model):
    """A queue-ticket machine (発券機) posting the waiting count; authenticated by a key of
    which only the SHA-256 is stored."""

    name = models.CharField(_("名前"), max_length=100)
    counters = models.ManyToManyField(Counter, related_name="machines")
    key_prefix = models.CharField(max_length=12, unique=True)
    key_hash = models.CharField(max_length=64)
    active = models.BooleanField(default=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("発券機")
        verbose_name_plural = _("発券機")

    def __str__(self) -> str:
        return self.name


class QueueReading(models.Model):
    class Source(models.TextChoices):
        MACHINE = "machine", _("発券機")
        STAFF = "staff", _("職員の入力")

    counter = models.ForeignKey(Counter, on_delete=models.CASCADE, related_name="readings")
    waiting = models.PositiveIntegerField(_("待ち人数"))
    wait_minutes = models.PositiveIntegerField(_("待ち時間の目安（分）"), null=True, blank=True)
    source = models.CharField(max_length=10, choices=Source.choices)
    machine = models.ForeignKey(TicketMachine, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                    related_name="+")
    recorded_at = models.DateTimeField(_("時刻"))

    class Meta:
        verbose_name = _("待ち状況")
        verbose_name_plural = _("待ち状況")
        indexes = [models.Index(fields=["counter", "-recorded_at"], name="queue_latest_idx")]

    def __str__(self) -> str:
        return f"{self.counter} {self.waiting}"


class TypicalCongestion(models.Model):
    """The usual waiting at a counter by weekday and hour, computed from POS transactions and
    application history (insights computes it; shown where no live reading exists)."""

    counter = models.ForeignKey(Counter, on_delete=models.CASCADE, related_name="typical")
    weekday = models.PositiveSmallIntegerField()  # 0 = Monday
    hour = models.PositiveSmallIntegerField()
    visitors = models.DecimalField(_("1時間あたりの来庁者（平均）"), max_digits=8, decimal_places=1)
    level = models.PositiveSmallIntegerField(_("混雑の度合い"))  # 0 空いている … 3 大変混雑
    basis = models.CharField(_("もとにしたデータ"), max_length=100)
    computed_at = models.DateTimeField()

    class Meta:
        verbose_name = _("いつもの混雑")
        verbose_name_plural = _("いつもの混雑")
        constraints = [models.UniqueConstraint(fields=["counter", "weekday", "hour"], name="typical_unique")]

    def __str__(self) -> str:
        return f"{self.counter} {self.weekday} {self.hour}"


class FeeReduction(models.Model):
    """減免 of a booking's fee: asked by one member of staff, decided by another (the
    second person), so nobody lowers a fee alone. Only an approved one changes the booking."""

    class State(models.TextChoices):
        PENDING = "pending", _("承認待ち")
        APPROVED = "approved", _("承認")
        REFUSED = "refused", _("却下")

    booking = models.ForeignKey(Booking, on_delete=models.CASCADE, related_name="reductions")
    amount_yen = models.PositiveIntegerField(_("減免額（円）"))
    reason = models.CharField(_("減免の理由"), max_length=200)
    state = models.CharField(_("状態"), max_length=10, choices=State.choices, default=State.PENDING)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                                     verbose_name=_("申請した職員"))
    requested_at = models.DateTimeField(_("申請日時"), auto_now_add=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="+", verbose_name=_("決定した職員"))
    decided_at = models.DateTimeField(_("決定日時"), null=True, blank=True)
    comment = models.CharField(_("決定のコメント"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("減免")
        verbose_name_plural = _("減免")
        ordering = ["requested_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["booking"], name="fee_reduction_one_pending",
                                    condition=Q(state="pending")),
        ]

    def __str__(self) -> str:
        return f"{self.booking} {self.amount_yen}"
