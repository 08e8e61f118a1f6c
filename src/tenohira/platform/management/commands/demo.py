"""`tenohira demo`: prepare the demo city (サンプル市) and serve it.

Safe to run again: migrations are idempotent, the catalog import changes nothing when
the file has not changed, and demo accounts are reset to the printed passwords.
"""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from tenohira.catalog.services import ImportRejected, import_catalog
from tenohira.core.site import serving
from tenohira.platform.demo import (
    DEMO_ACCOUNTS,
    DEMO_CATALOG,
    DEMO_FIRST_STEPS,
    DEMO_FORMS,
    DEMO_IDP_PIN,
    DEMO_IDP_SIGNING_PASSWORD,
    DEMO_PASSWORD,
    IdentityProviderStandIn,
)
from tenohira.platform.server import run_gunicorn
from tenohira.standins.payment_service.launcher import CARD_DECLINED, CARD_OK, PaymentServiceStandIn


def own_embedded_database() -> bool:
    """True when the database is the demo's SQLite file inside its own data directory."""
    from pathlib import Path

    database = settings.DATABASES["default"]
    if database["ENGINE"] != "django.db.backends.sqlite3":
        return False
    name = str(database.get("NAME") or "")
    if not name or name == ":memory:" or name.startswith("file:"):
        return False
    return Path(name).resolve().parent == Path(settings.DATA_DIR).resolve()


class Command(BaseCommand):
    help = "デモ用の市（サンプル市）を用意して起動します。"

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--no-serve", action="store_true", help="準備だけして起動しない")
        parser.add_argument("--idp-port", type=int, default=None,
                            help="デジタル認証アプリの代替サービス（デモ用）のポート（既定: --port の次の番号）")
        parser.add_argument("--payment-port", type=int, default=None,
                            help="デモ用の決済サービスのポート（既定: --port の2つ後の番号）")
        parser.add_argument(
            "--allow-database", action="store_true",
            help="デモ専用の SQLite 以外のデータベース（DATABASE_URL）にデモのデータと公開パスワードのアカウントを書き込むことを許可する",
        )

    def handle(self, *args, port, host, no_serve, allow_database, idp_port=None, payment_port=None, **options):
        if not settings.DEMO:
            raise CommandError("tenohira demo は TENOHIRA_DEMO を有効にして実行してください（tenohira コマンドが自動で行います）。")
        if not allow_database and not own_embedded_database():
            # The demo writes accounts whose password is printed in the documentation:
            # in a real installation's database they would be a way in.
            raise CommandError(
                "tenohira demo はデモ専用のデータベース（データ保存先の SQLite）でだけ動きます。"
                "DATABASE_URL が別のデータベースを指しているため中止しました。"
                "デモ用の公開パスワードのアカウントが作られるため、本番のデータベースでは実行しないでください。"
                "どうしてもこのデータベースで試す場合は --allow-database を付けてください。"
            )
        self.stdout.write(f"データの保存先: {settings.DATA_DIR}")
        call_command("migrate", interactive=False, verbosity=0)
        try:
            result = import_catalog(DEMO_CATALOG)
        except ImportRejected as exc:
            for error in exc.errors:
                self.stderr.write(str(error))
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"サンプル市の手続カタログ: {result.summary()}")
        self._first_steps()
        self._forms()
        self._accounts()
        # Before the sample applications: a 粗大ごみ application books a collection day.
        from tenohira.reservations.demo import seed as seed_reservations

        # Their confirmation e-mails (and the ticket machine's example) name the address the
        # demo is about to serve.
        with serving(f"http://{host}:{port}"):
            seed_reservations(self.stdout)
            self._sample_applications()
        # After the sample applications: they were made before the city took fees online.
        self._fees()
        self._inventory()

        url = f"http://{host}:{port}/"
        self.stdout.write("")
        self.stdout.write(f"  住民向けページ:   {url}")
        self.stdout.write(f"  手続き検索 API:   {url}api/v1/procedures?q=ほいく")
        self.stdout.write(f"  API 仕様 (OpenAPI): {url}api/v1/schema/")
        self.stdout.write(f"  職員向けページ:   {url}staff/")
        self.stdout.write(f"  管理画面:         {url}admin/")
        self.stdout.write(f"  デモアカウント（パスワードはすべて {DEMO_PASSWORD}、ワンタイムパスワードはデモのログイン画面に表示）:")
        for username, full_name, _roles, purpose in DEMO_ACCOUNTS:
            self.stdout.write(f"    {username:<14} {full_name}: {purpose}")
        # A demo pointed at a provider of its own (MYNUMBER_CARD_ISSUER) keeps it.
        standin = None
        if not settings.MYNUMBER_CARD_ISSUER:
            standin = IdentityProviderStandIn(settings.DATA_DIR, host, port, idp_port or port + 1)
            self.stdout.write(f"  マイナンバーカード: デジタル認証アプリの代替サービス（デモ用、本物ではありません） {standin.url}/")
            self.stdout.write(f"    架空の住民でログインします。暗証番号（数字4桁）{DEMO_IDP_PIN}、"
                              f"署名用パスワード（英数字6〜16文字）{DEMO_IDP_SIGNING_PASSWORD}")
        # A demo given a card provider of its own (PAYMENTS_STRIPE_SECRET_KEY) keeps it.
        payments = None
        if not settings.PAYMENTS_STRIPE_SECRET_KEY:
            payments = PaymentServiceStandIn(settings.DATA_DIR, host, port, payment_port or port + 2)
            self.stdout.write(f"  クレジットカード: デモ用の決済サービス（本物ではありません） {payments.url}/")
            self.stdout.write(f"    テスト用カード番号 {CARD_OK}（支払いできます）、{CARD_DECLINED}（使えないカード）")
        self.stdout.write("")
        if no_serve:
            return
        started = []
        try:
            for stand_in in (standin, payments):
                if stand_in is not None:
                    stand_in.start()
                    started.append(stand_in)
                    self._use_standin(stand_in)
        except RuntimeError as exc:
            for stand_in in started:
                stand_in.stop()
            raise CommandError(str(exc)) from exc
        try:
            self.stdout.write("Ctrl+C で終了します。")
            run_gunicorn(host, port, workers=2, access_log=False, background_worker=settings.BACKGROUND != "celery")
        finally:
            for stand_in in started:
                stand_in.stop()

    def _use_standin(self, standin):
        """The stand-in becomes the provider of this run (My Number card, card payments). Settings are read
        when a request needs them, and gunicorn's workers fork from this process, so they
        see the change; the environment carries it to the background process too."""
        import os

        for name, value in standin.settings().items():
            setattr(settings, name, value)
            os.environ[name] = "1" if value is True else str(value)

    def _first_steps(self):
        """まず必要な手続き of the demo's life events, unless the DX division set its own."""
        import csv

        from tenohira.catalog.models import LifeEvent, LifeEventFirstStep, Procedure

        with DEMO_FIRST_STEPS.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
        already_set = set(LifeEventFirstStep.objects.values_list("life_event__slug", flat=True))
        for order, row in enumerate(rows, start=1):
            event = LifeEvent.objects.filter(slug=row["ライフイベント"]).first()
            procedure = Procedure.objects.filter(code=row["手続ID"]).first()
            if event is None or procedure is None or event.slug in already_set:
                continue
            LifeEventFirstStep.objects.get_or_create(
                life_event=event, procedure=procedure, defaults={"note": row["ひとこと"], "order": order}
            )

    def _forms(self):
        import json

        from django.utils import timezone

        from tenohira.catalog.models import Procedure
        from tenohira.forms.services import demo_window, publish, set_window

        published = []
        for path in sorted(DEMO_FORMS.glob("*.json")):
            procedure = Procedure.objects.get(code=path.stem)
            version, created = publish(procedure, json.loads(path.read_text(encoding="utf-8")))
            published.append(f"{procedure.name}（第{version.number}版{'、新規' if created else ''}）")
        self.stdout.write(f"オンライン申請フォーム {len(published)} 件: {'、'.join(published)}")
        # 放課後児童クラブ is taken in a few weeks each autumn: the demo shows such a 受付期間,
        # set around the day the demo runs so the form can always be tried.
        set_window(Procedure.objects.get(code="HKC"), *demo_window(timezone.localdate()))
        # 窓口サービスに関する市民アンケート is a survey, answered anonymously (docs/forms.md アンケート).
        from tenohira.forms.models import FormDefinition

        FormDefinition.objects.filter(procedure__code="ANK").update(kind=FormDefinition.Kind.SURVEY, anonymous=True)
        from tenohira.catalog.selectors import online_procedure_ids, online_without_form

        online = len(online_procedure_ids())
        self.stdout.write(
            f"オンラインで申請できる手続き {online} 件（このサイトのフォームと外部のオンラインサービス）、"
            f"オンライン予定でフォーム未公開 {online_without_form().count()} 件（DX の作業一覧）"
        )

    def _fees(self):
        """Fees paid online (docs/payments.md): 住民票 by post is paid when it is sent,
        粗大ごみ once the section has confirmed the items (事後決済), both by card
        through the demo payment service. Settings already there are left as they are."""
        from tenohira.catalog.models import Procedure
        from tenohira.payments.models import FeeItem, FeeSetting, Timing

        fees = [
            ("HJC", "1401-01", "住民票等交付手数料", "総務手数料・戸籍住民基本台帳手数料", Timing.AT_SUBMISSION, 14),
            ("SDG", "1402-03", "粗大ごみ処理手数料", "衛生手数料・清掃手数料", Timing.AFTER_REVIEW, 14),
        ]
        made = []
        for code, item_code, item_name, account, timing, days in fees:
            procedure = Procedure.objects.filter(code=code).first()
            if procedure is None:
                continue
            item, _ = FeeItem.objects.get_or_create(code=item_code, defaults={"name": item_name, "account": account})
            _setting, created = FeeSetting.objects.get_or_create(procedure=procedure, defaults={
                "timing": timing, "fee_field": "fee", "fee_item": item, "providers": ["stripe_card"],
                "expiry_days": days,
            })
            if created:
                made.append(f"{procedure.name}（{Timing(timing).label}）")
        if made:
            self.stdout.write(f"オンラインで払える手数料: {'、'.join(made)}")

    def _sample_applications(self):
        """A few dozen fictional applications so the staff queue has something to show
        (only on a database without any; running the demo again adds none)."""
        import datetime as dt
        import random

        from tenohira.applications import services
        from tenohira.applications.models import Submission
        from tenohira.backoffice import services as backoffice
        from tenohira.catalog.models import Procedure
        from tenohira.forms.models import FormVersion
        from tenohira.insights import aggregates

        if Submission.objects.exists():
            return
        rng = random.Random(2026)  # noqa: S311 (the same fictional demo every time, not a secret)
        families = [("佐藤", "さとう"), ("鈴木", "すずき"), ("高橋", "たかはし"), ("田中", "たなか"), ("伊藤", "いとう"),
                    ("渡辺", "わたなべ"), ("山本", "やまもと"), ("中村", "なかむら"), ("小林", "こばやし"), ("加藤", "かとう")]
        givens = [("花子", "はなこ"), ("太郎", "たろう"), ("美咲", "みさき"), ("健", "けん"), ("陽子", "ようこ"), ("大輔", "だいすけ")]
        address = {"address__postal_code": ["963-8601"], "address__prefecture": ["福島県"], "address__city": ["郡山市"],
                   "address__town": ["朝日"], "address__street": ["2-1-5"], "phone": ["090-1234-5678"]}

        def name(prefix, family, given):
            return {f"{prefix}__family": [family[0]], f"{prefix}__given": [given[0]],
                    f"{prefix}__family_kana": [family[1]], f"{prefix}__given_kana": [given[1]]}

        def hkc(family, given, index):
            child = rng.choice(givens)
            return {
                "guardian": {**name("guardian_name", family, given), "relationship": ["mother"]},
                "contact": {**address, "email": [f"hkc{index}@example.jp"]},
                "child": {"children-count": ["1"], **name("children-0-child_name", family, child),
                          "children-0-birth_date": [f"201{rng.randint(6, 9)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}"],
                          "children-0-school": ["サンプル市立中央小学校"], "children-0-grade": [str(rng.randint(1, 3))],
                          "children-0-club": [rng.choice(["chuo", "minami", "higashi"])], "children-0-period": ["year"]},
                "work": {"working": ["no"], "not_working_reason": ["job_seeking"]},
            }

        def sdg(family, given, index):
            # A free collection day of the district's route (reservations.demo.collection).
            from tenohira.forms.extensions import slot_options

            district = rng.choice(["東地区", "西地区", "南地区", "北地区"])
            # `version` is the SDG form's: the loop below calls this while on it.
            days = slot_options(version.parsed().field_map()["collection_day"], {"district": district})
            return {
                "applicant": name("applicant_name", family, given),
                "contact": {**address, "district": [district], "email": [f"sdg{index}@example.jp"]},
                "items": {"items-count": ["2"], "items-0-item": ["futon"], "items-0-quantity": ["2"],
                          "items-1-item": [rng.choice(["chair", "bicycle", "table"])], "items-1-quantity": ["1"]},
                "collection": {"collection_day": [rng.choice(days[:8]).value], "place": ["entrance"]},
            }

        made = 0
        for code, build, count in (("HKC", hkc, 18), ("SDG", sdg, 12)):
            procedure = Procedure.objects.get(code=code)
            version = FormVersion.objects.get(definition__procedure=procedure, status=FormVersion.Status.PUBLISHED)
            for index in range(count):
                draft, _ = services.start_draft(version)
                for step_key, raw in build(rng.choice(families), rng.choice(givens), index).items():
                    services.save_step(draft, version.parsed().step(step_key), raw, {}, [])
                submission, _ = services.submit(draft)
                days_ago = rng.randint(0, 45)
                moved = submission.submitted_at - dt.timedelta(days=days_ago, hours=rng.randint(0, 12))
                due = submission.due_date - dt.timedelta(days=days_ago) if submission.due_date else None
                Submission.objects.filter(pk=submission.pk).update(submitted_at=moved, due_date=due)
                made += 1
        # The dates were moved behind the services' back: recount the DX figures' daily rows.
        aggregates.rebuild()
        # A few already under review, so both roles have something to do.
        handler = get_user_model().objects.get(username="kodomo-tanto")
        for submission in Submission.objects.filter(procedure__code="HKC").order_by("submitted_at")[:5]:
            backoffice.transition(handler, submission.receipt_number, Submission.Status.UNDER_REVIEW)
        self.stdout.write(f"架空の申請 {made} 件（放課後児童クラブ、粗大ごみ）")

    @transaction.atomic
    def _inventory(self):
        """This fiscal year's procedure inventory (手続棚卸) taken from the demo catalog, so
        the DX dashboard (/staff/insights/) has figures; only when the year has none."""
        from django.utils import timezone

        from tenohira.catalog.models import Procedure
        from tenohira.catalog.selectors import online_procedure_ids
        from tenohira.core.fiscal import fiscal_year
        from tenohira.insights.models import InventoryProcedure

        year = fiscal_year(timezone.now())
        if InventoryProcedure.objects.filter(fiscal_year=year).exists():
            return
        # Online only where a resident can apply online today: a published form or an
        # external online service (a procedure merely marked online is not).
        online = online_procedure_ids()
        rows = [
            InventoryProcedure(
                fiscal_year=year, department=p.section.department.name, section=p.section.name, name=p.name,
                procedure=p, online=p.pk in online, annual_applications=p.annual_applications,
            )
            for p in Procedure.objects.select_related("section__department").order_by(
                "section__department__order", "section__order", "pk"
            )
        ]
        InventoryProcedure.objects.bulk_create(rows)
        self.stdout.write(f"手続棚卸（{year}年度）: 手続カタログから {len(rows)} 件")

    @transaction.atomic
    def _accounts(self):
        from django_otp.plugins.otp_totp.models import TOTPDevice

        from tenohira.backoffice.models import StaffRole
        from tenohira.catalog.models import Section

        group, _ = Group.objects.get_or_create(name="DX管理者")
        group.permissions.set(
            Permission.objects.filter(content_type__app_label__in=[
                "catalog", "forms", "backoffice", "otp_totp", "platform", "integrations", "payments"])
        )
        User = get_user_model()
        for username, full_name, roles, _purpose in DEMO_ACCOUNTS:
            user, _ = User.objects.get_or_create(username=username)
            user.last_name, user.first_name = full_name.split(" ", 1)
            user.is_active = True
            user.is_staff = any(role == "dx_admin" for role, _section in roles)  # /admin/ access
            user.set_password(DEMO_PASSWORD)
            user.save()
            if user.is_staff:
                user.groups.add(group)
            # The demo's sign-in page shows the current code of every device named "demo".
            TOTPDevice.objects.get_or_create(user=user, name="demo", defaults={"confirmed": True})
            for role, section_name in roles:
                section = Section.objects.get(name=section_name) if section_name else None
                StaffRole.objects.get_or_create(user=user, role=role, section=section)
