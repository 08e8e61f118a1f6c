"""Settings for Tenohira, read from the environment (12-factor).

Every value has an embedded default so that `tenohira demo` runs on a fresh machine
with no server: SQLite in the data directory, mail written to files there. DEBUG is
on only when the demo command asks for it (TENOHIRA_DEMO=1); production deployments
set DATABASE_URL, SECRET_KEY, ALLOWED_HOSTS and the e-mail variables.
"""

import ipaddress
import json
import os
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


# The demo: a fictional city with printed passwords, in its own data directory. It is
# still served as residents would see a real site (no debug pages).
DEMO = env_bool("TENOHIRA_DEMO")

# The demo keeps its own data directory so it can never touch a real installation's data.
DATA_DIR = Path(
    os.environ.get("TENOHIRA_DATA_DIR")
    or Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    / ("tenohira-demo" if DEMO else "tenohira")
)
# Everything the site writes (mail files, attachments, exports, the embedded database)
# is readable by its own account only: 0600 files in 0700 folders (tenohira.core.files).
os.umask(0o077)
# Asking for help (`tenohira --help`, set by tenohira.cli) leaves no trace: no data
# directory, no key file; a mistyped command should not start an installation.
HELP_ONLY = env_bool("TENOHIRA_HELP_ONLY")
if not HELP_ONLY:
    DATA_DIR.mkdir(parents=True, exist_ok=True, mode=0o700)
    if DATA_DIR.stat().st_mode & 0o077 and DATA_DIR.stat().st_uid == os.getuid():
        DATA_DIR.chmod(0o700)
# Debug pages leak settings and stack traces and are in English: residents, the demo's
# included, always get the Japanese 404/500 pages (templates/). Static files do not need
# DEBUG: WhiteNoise serves them (below).
DEBUG = False


def _secret_key() -> str:
    """SECRET_KEY from the environment, else one generated once and kept in the data dir.

    A per-installation random key is safer than any key shipped in the repository and
    needs no manual step on a fresh machine.
    """
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    path = DATA_DIR / "secret_key"
    if HELP_ONLY and not path.exists():
        return secrets.token_urlsafe(50)  # signs nothing: the process only prints help
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    # django.contrib.admin with the second factor (django-otp) required: see backoffice.admin_site
    "tenohira.backoffice.admin_apps.StaffAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "rest_framework",
    "drf_spectacular",
    "tenohira.core",
    "tenohira.catalog",
    "tenohira.forms",
    "tenohira.applications",
    "tenohira.identity",
    "tenohira.payments",
    "tenohira.reservations",
    "tenohira.audit",
    "tenohira.backoffice",
    "tenohira.integrations",
    "tenohira.insights",
    # Last: the site as a whole (commands, site-wide pages) depends on every domain app.
    "tenohira.platform",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # No-store on pages with personal data, Permissions-Policy everywhere.
    "tenohira.core.middleware.SecurityHeadersMiddleware",
    "csp.middleware.CSPMiddleware",
    # Adds the identity providers' origins to the CSP form-action (the sign-in POST redirects there).
    "tenohira.identity.middleware.ProviderFormActionMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    # The request's (validated) address for links in e-mails when SITE_URL is not set.
    "tenohira.core.site.RequestOriginMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "tenohira.backoffice.middleware.AdminIdleTimeoutMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "tenohira.config.urls"
WSGI_APPLICATION = "tenohira.config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "tenohira.platform.context_processors.municipality",
            ],
        },
    },
]

_default_db = f"sqlite:///{DATA_DIR / 'tenohira.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(os.environ.get("DATABASE_URL") or _default_db)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the demo's web workers read while an import writes; IMMEDIATE avoids
    # "database is locked" when two writers upgrade from read to write at once.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000;",
        "transaction_mode": "IMMEDIATE",
    }
    # Tests run on a file like the real installation: Django's default in-memory test
    # database uses SQLite's shared cache, where a second writer fails at once with
    # "database table is locked" instead of waiting (busy_timeout does not apply), so
    # concurrent-submission tests could not run on SQLite at all.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test-tenohira.sqlite3")}
else:
    DATABASES["default"]["CONN_MAX_AGE"] = int(os.environ.get("DATABASE_CONN_MAX_AGE", "60"))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "ja"
LANGUAGES = [("ja", "日本語")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Tokyo"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
# Project-wide assets (site.css) live outside any app; the app-directories finder would
# never see them and every page would render unstyled.
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "static"
if not HELP_ONLY:
    STATIC_ROOT.mkdir(exist_ok=True)
# Serve straight from the app directories: no collectstatic step on a fresh machine.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# Uploaded attachments: outside any directory a web server serves.
MEDIA_ROOT = DATA_DIR / "media"
# Where attachments are kept. With several `tenohira serve` nodes every node must see the
# same files (a resident uploads on one node and staff download on another), so this names
# a directory every node mounts (NFS, a shared volume); empty: <MEDIA_ROOT>/attachments.
ATTACHMENTS_DIR = os.environ.get("ATTACHMENTS_DIR", "")
# Or an S3-compatible object store (AWS S3, MinIO, a cloud's S3 API) through django-storages,
# when the nodes share no directory: ATTACHMENTS_STORAGE=s3 and a bucket. Credentials come
# from the standard AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or the instance's role);
# they are never written in settings.
ATTACHMENTS_STORAGE = os.environ.get("ATTACHMENTS_STORAGE", "directory")
if ATTACHMENTS_STORAGE not in {"directory", "s3"}:
    raise ImproperlyConfigured(f"ATTACHMENTS_STORAGE must be directory or s3, not {ATTACHMENTS_STORAGE!r}")
ATTACHMENTS_S3 = {
    "bucket_name": os.environ.get("ATTACHMENTS_S3_BUCKET", ""),
    "endpoint_url": os.environ.get("ATTACHMENTS_S3_ENDPOINT_URL") or None,
    "region_name": os.environ.get("ATTACHMENTS_S3_REGION") or None,
    "location": os.environ.get("ATTACHMENTS_S3_PREFIX", "attachments"),
    # "AES256" (SSE-S3) or "aws:kms"; empty for stores that do not offer it (MinIO without KMS).
    "server_side_encryption": os.environ.get("ATTACHMENTS_S3_SSE", ""),
}
if ATTACHMENTS_STORAGE == "s3" and not ATTACHMENTS_S3["bucket_name"] and not HELP_ONLY:
    raise ImproperlyConfigured("ATTACHMENTS_STORAGE=s3 needs ATTACHMENTS_S3_BUCKET")
# Virus scanning of attachments through clamd (either a Unix socket or host:port).
CLAMD_SOCKET = os.environ.get("CLAMD_SOCKET", "")
CLAMD_HOST = os.environ.get("CLAMD_HOST", "")
CLAMD_PORT = int(os.environ.get("CLAMD_PORT", "3310"))
# Upload bodies above this go to a temporary file instead of memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_PERMISSIONS = 0o600
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o700
# Inputs other than files (a step has at most a few hundred): beyond either, a 413 page.
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_NUMBER_FIELDS = 1000
# Ceilings for files, counted while the body streams (tenohira.applications.uploads).
UPLOAD_MAX_FILE_MB = float(os.environ.get("TENOHIRA_UPLOAD_MAX_FILE_MB", "20"))
UPLOAD_MAX_FILES_PER_REQUEST = int(os.environ.get("TENOHIRA_UPLOAD_MAX_FILES_PER_REQUEST", "20"))
UPLOAD_MAX_REQUEST_MB = float(os.environ.get("TENOHIRA_UPLOAD_MAX_REQUEST_MB", "60"))

# E-mail: SMTP when EMAIL_HOST is set; otherwise files in the data directory, so that
# nothing is silently dropped on a machine without a mail server.
EMAIL_HOST = os.environ.get("EMAIL_HOST", "")
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "587"))
    EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
    EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
    EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
else:
    EMAIL_BACKEND = "tenohira.core.files.PrivateMailFileBackend"
    EMAIL_FILE_PATH = DATA_DIR / "mail"
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "noreply@localhost")
# How the outbox is delivered (tenohira.core.outbox): "worker" (a delivery process sends
# in batches; `tenohira serve` starts one) or "after_commit" (each request sends its own).
OUTBOX_DELIVERY = os.environ.get("OUTBOX_DELIVERY", "worker")
if OUTBOX_DELIVERY not in {"worker", "after_commit"}:
    raise ImproperlyConfigured(f"OUTBOX_DELIVERY must be worker or after_commit, not {OUTBOX_DELIVERY!r}")
# A mail server that stops answering must not hold the delivery worker past its lease.
EMAIL_TIMEOUT = int(os.environ.get("EMAIL_TIMEOUT", "30"))
# How long a delivery worker holds the messages it took; one it left behind (killed) is
# taken again after this (tenohira.core.outbox, docs/decisions/0003-*).
OUTBOX_LEASE_SECONDS = int(os.environ.get("OUTBOX_LEASE_SECONDS", "300"))
if OUTBOX_LEASE_SECONDS < 2 * EMAIL_TIMEOUT:
    raise ImproperlyConfigured("OUTBOX_LEASE_SECONDS must be at least twice EMAIL_TIMEOUT")
# Who runs background work (tenohira.core.background): "embedded" (`tenohira serve` and
# `demo` start one background process; no broker), "celery" (workers from `tenohira worker`,
# Redis broker) or "eager" (tests: right after the commit, in the same process).
BACKGROUND = os.environ.get("BACKGROUND", "embedded")
if BACKGROUND not in {"embedded", "celery", "eager"}:
    raise ImproperlyConfigured(f"BACKGROUND must be embedded, celery or eager, not {BACKGROUND!r}")
# How often the embedded background process looks for due rows when idle.
BACKGROUND_POLL_SECONDS = float(os.environ.get("BACKGROUND_POLL_SECONDS", "1"))
# After a failed dispatch, how long web processes leave their work to the sweeps instead
# of trying the broker again (each try may cost a request a connection timeout).
BACKGROUND_BROKER_BACKOFF_SECONDS = float(os.environ.get("BACKGROUND_BROKER_BACKOFF_SECONDS", "10"))
# At most this many seconds between two turns of a sweep in a Celery worker (0: each
# sweep's own period, e.g. 30 s for e-mail): how soon work a lost dispatch left is found.
BACKGROUND_SWEEP_SECONDS = float(os.environ.get("BACKGROUND_SWEEP_SECONDS", "0"))
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_TASK_DEFAULT_QUEUE", "tenohira")
# The right-hand side of every e-mail's Message-ID (default: the domain of DEFAULT_FROM_EMAIL).
OUTBOX_MESSAGE_ID_DOMAIN = os.environ.get("OUTBOX_MESSAGE_ID_DOMAIN", "")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# Reverse proxies in front of the site (comma-separated addresses or networks, e.g.
# "10.0.0.5,192.168.10.0/24"). Only requests coming from these have their
# X-Forwarded-For believed (tenohira.core.clients); empty, it is always ignored.
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES", "")
for _proxy in TRUSTED_PROXIES:
    try:
        ipaddress.ip_network(_proxy, strict=False)
    except ValueError as _exc:
        raise ImproperlyConfigured(f"TRUSTED_PROXIES: {_proxy!r} is not an IP address or network") from _exc

SESSION_COOKIE_HTTPONLY = True
# Flash messages live in the server-side session, never in a cookie: Django's cookie storage
# signs but does not encrypt, and a message may carry a key shown once (a webhook's
# signing key) or a resident's name.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", not DEBUG and env_bool("HTTPS", False))
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if env_bool("HTTPS"):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000"))
    # Both bind every subdomain (and, once preloaded, browsers for months): a choice for
    # the municipality's domain owner, so off unless set.
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)

# Content Security Policy (django-csp): scripts and styles only from our own static files,
# no inline script or style, no plugins, no framing, forms only to this site.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
    },
}
# Browser features no page of the site uses (Permissions-Policy: feature=()).
PERMISSIONS_POLICY_DENY = [
    "accelerometer", "autoplay", "camera", "display-capture", "geolocation", "gyroscope",
    "magnetometer", "microphone", "midi", "payment", "usb",
]
# Pages under these paths show personal data: Cache-Control: no-store.
NO_STORE_PATH_PREFIXES = [
    "/apply/", "/resume/", "/status/", "/corrections/", "/staff/", "/admin/", "/identity/", "/mypage/",
    "/reservations/",  # bookings, lottery entries and waiting lists hold names and e-mail addresses
]

# Staff sign-in: password + TOTP; locked after repeated failures; signed out when idle.
LOGIN_URL = "/staff/login/"
STAFF_IDLE_TIMEOUT_MINUTES = int(os.environ.get("STAFF_IDLE_TIMEOUT_MINUTES", "30"))
STAFF_LOCKOUT_FAILURES = int(os.environ.get("STAFF_LOCKOUT_FAILURES", "5"))
STAFF_LOCKOUT_MINUTES = int(os.environ.get("STAFF_LOCKOUT_MINUTES", "15"))
STAFF_LOGIN_LIMIT_PER_ADDRESS = int(os.environ.get("STAFF_LOGIN_LIMIT_PER_ADDRESS", "30"))
OTP_TOTP_ISSUER = os.environ.get("OTP_TOTP_ISSUER", "Tenohira")

# Office hours and the unit prices of printouts (DX insights).
OFFICE_OPENS = os.environ.get("OFFICE_OPENS", "08:30")
OFFICE_CLOSES = os.environ.get("OFFICE_CLOSES", "17:15")
PRINT_PRICE_MONO_YEN = os.environ.get("PRINT_PRICE_MONO_YEN", "0.495")
PRINT_PRICE_COLOUR_YEN = os.environ.get("PRINT_PRICE_COLOUR_YEN", "5.3273")

# The municipality this installation serves; shown in every page header.
MUNICIPALITY_NAME = os.environ.get("TENOHIRA_MUNICIPALITY", "サンプル市")
# Public address of the site for links in e-mails, receipts and QR codes. Unset, each
# link uses the address the request that sends it came to (tenohira.core.site): a fixed
# default would point at a port or name the server may not be serving.
SITE_URL = os.environ.get("SITE_URL", "")

# Online applications.
DRAFT_LIFETIME_DAYS = int(os.environ.get("DRAFT_LIFETIME_DAYS", "30"))
# A signed-in resident idle this long is signed out (their draft is kept); see docs/identity.md.
RESIDENT_IDLE_MINUTES = int(os.environ.get("RESIDENT_IDLE_MINUTES", "30"))
CORRECTION_DAYS = int(os.environ.get("CORRECTION_DAYS", "14"))
# 保存年限 of a procedure that does not set its own (applications.retention).
RETENTION_DEFAULT_YEARS = int(os.environ.get("RETENTION_DEFAULT_YEARS", "5"))
RECEIPT_NUMBER_FORMAT = os.environ.get("RECEIPT_NUMBER_FORMAT", "{fiscal_year}-{code}-{sequence:06d}")
STATUS_LOOKUP_LIMIT_PER_HOUR = int(os.environ.get("STATUS_LOOKUP_LIMIT_PER_HOUR", "20"))
# All clients together: guessing spread over many addresses is slowed down too.
STATUS_LOOKUP_GLOBAL_PER_MINUTE = int(os.environ.get("STATUS_LOOKUP_GLOBAL_PER_MINUTE", "120"))
RESUME_LINK_LIMIT_PER_ADDRESS = int(os.environ.get("RESUME_LINK_LIMIT_PER_ADDRESS", "20"))
# 書かない窓口: the short code a resident shows at the counter, and the staff address its
# QR code opens (staff terminals on LGWAN may reach the back office under another name).
HANDOFF_MINUTES = int(os.environ.get("HANDOFF_MINUTES", "60"))
HANDOFF_LOOKUP_LIMIT_PER_HOUR = int(os.environ.get("HANDOFF_LOOKUP_LIMIT_PER_HOUR", "30"))
# 予約する from one client address per hour (a script making up e-mail addresses to take
# every place); the counter and the phone are not limited.
# 保存期間 of a booking's personal data: days after its slot ended (`tenohira reservations purge`).
RESERVATIONS_RETENTION_DAYS = int(os.environ.get("RESERVATIONS_RETENTION_DAYS", "365"))
RESERVATIONS_BOOKINGS_PER_ADDRESS_PER_HOUR = int(os.environ.get("RESERVATIONS_BOOKINGS_PER_ADDRESS_PER_HOUR", "30"))
STAFF_SITE_URL = os.environ.get("STAFF_SITE_URL", "") or SITE_URL
# A TrueType Japanese font for the receipt PDF; empty = look in the usual Debian places.
RECEIPT_FONT_PATH = os.environ.get("RECEIPT_FONT_PATH", "")

# Identity providers (tenohira.identity, docs/identity.md). A provider whose settings are
# empty is not offered. Read at call time, so tests and a restart pick up changes.
# マイナンバーカード through the Digital Agency's デジタル認証アプリ (OpenID Connect,
# private_key_jwt): the issuer, our client id and the private key registered with it.
MYNUMBER_CARD_ISSUER = os.environ.get("MYNUMBER_CARD_ISSUER", "").rstrip("/")
MYNUMBER_CARD_CLIENT_ID = os.environ.get("MYNUMBER_CARD_CLIENT_ID", "")
MYNUMBER_CARD_PRIVATE_KEY_FILE = os.environ.get("MYNUMBER_CARD_PRIVATE_KEY_FILE", "")
# Trust anchors (PEM) for signing certificates (電子署名), and how revocation is checked:
# "crl" reads the CA's CRL; "none" only for a test set-up (the check says so).
MYNUMBER_CARD_TRUSTED_CA_FILE = os.environ.get("MYNUMBER_CARD_TRUSTED_CA_FILE", "")
MYNUMBER_CARD_REVOCATION = os.environ.get("MYNUMBER_CARD_REVOCATION", "crl")
# A CRL address used instead of the one named in the certificate (empty: the certificate's).
MYNUMBER_CARD_CRL_URL = os.environ.get("MYNUMBER_CARD_CRL_URL", "")
# The demo's stand-in provider: its button says so.
MYNUMBER_CARD_STANDIN = env_bool("MYNUMBER_CARD_STANDIN")
# GビズID (businesses): OpenID Connect with a client secret.
GBIZID_ISSUER = os.environ.get("GBIZID_ISSUER", "").rstrip("/")
GBIZID_CLIENT_ID = os.environ.get("GBIZID_CLIENT_ID", "")
GBIZID_CLIENT_SECRET = os.environ.get("GBIZID_CLIENT_SECRET", "")
# Any other standard OpenID Connect provider, by settings alone: a JSON list of
# {"name", "label", "issuer", "client_id", "client_secret" or "private_key_file",
#  "token_auth", "scopes", "level", "kind", "claims"} (tenohira.identity.contrib.oidc).
IDENTITY_OIDC_PROVIDERS = json.loads(os.environ.get("TENOHIRA_OIDC_PROVIDERS") or "[]")
if not isinstance(IDENTITY_OIDC_PROVIDERS, list):
    raise ImproperlyConfigured("TENOHIRA_OIDC_PROVIDERS must be a JSON list")
# Sign-in by a one-time code sent by e-mail (level "email"); off with TENOHIRA_EMAIL_SIGN_IN=0.
IDENTITY_EMAIL_SIGN_IN = env_bool("TENOHIRA_EMAIL_SIGN_IN", True)
IDENTITY_EMAIL_CODE_MINUTES = int(os.environ.get("IDENTITY_EMAIL_CODE_MINUTES", "15"))
IDENTITY_EMAIL_CODE_ATTEMPTS = int(os.environ.get("IDENTITY_EMAIL_CODE_ATTEMPTS", "5"))
IDENTITY_EMAIL_LIMIT_PER_HOUR = int(os.environ.get("IDENTITY_EMAIL_LIMIT_PER_HOUR", "10"))
# Every call to a provider (discovery, keys, tokens, CRL) gives up after this many seconds.
IDENTITY_HTTP_TIMEOUT = float(os.environ.get("IDENTITY_HTTP_TIMEOUT", "5"))
# 「以前の申請を追加する」: codes one account may have sent per hour (identity.mypage).
MYPAGE_LINK_LIMIT_PER_HOUR = int(os.environ.get("MYPAGE_LINK_LIMIT_PER_HOUR", "5"))
# `tenohira identity purge` deletes accounts that have not signed in for this long and have
# nothing left in their マイページ (docs/identity.md).
IDENTITY_ACCOUNT_DORMANT_DAYS = int(os.environ.get("IDENTITY_ACCOUNT_DORMANT_DAYS", str(3 * 365)))

# Card payments through Stripe's API (tenohira.payments.contrib.stripe_card). The API base
# is Stripe's own unless a stand-in or a proxy is named (`tenohira demo` points it at its
# demo payment service); every call gives up after PAYMENTS_STRIPE_TIMEOUT seconds.
PAYMENTS_STRIPE_API_BASE = os.environ.get("PAYMENTS_STRIPE_API_BASE", "https://api.stripe.com").rstrip("/")
PAYMENTS_STRIPE_SECRET_KEY = os.environ.get("PAYMENTS_STRIPE_SECRET_KEY", "")
PAYMENTS_STRIPE_WEBHOOK_SECRET = os.environ.get("PAYMENTS_STRIPE_WEBHOOK_SECRET", "")
PAYMENTS_STRIPE_TIMEOUT = float(os.environ.get("PAYMENTS_STRIPE_TIMEOUT", "10"))
# An attempt no browser came back for is first asked about after this many seconds, then
# after pauses that double up to an hour (payments.services.poll_due).
PAYMENTS_POLL_AFTER_SECONDS = int(os.environ.get("PAYMENTS_POLL_AFTER_SECONDS", "60"))
# A settlement line paid out more than this many days after the payment is reported late.
PAYMENTS_SETTLEMENT_LATE_DAYS = int(os.environ.get("PAYMENTS_SETTLEMENT_LATE_DAYS", "10"))

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_THROTTLE_RATES": {},
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Tenohira API",
    "DESCRIPTION": "てのひら: procedure catalog (総合案内) and, later, applications.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
}

# Request logs name the route, never a token, code or search word (tenohira.platform.logs).
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"route_only": {"()": "tenohira.platform.logs.RouteOnlyFilter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["route_only"]}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "django.request": {"filters": ["route_only"]},
        "django.server": {"handlers": ["console"], "filters": ["route_only"], "propagate": False},
    },
}

# Pull API for business systems (tenohira.integrations.api, docs/integrations.md).
INTEGRATION_TOKEN_SECONDS = int(os.environ.get("INTEGRATION_TOKEN_SECONDS", "3600"))
# Submissions younger than this are not listed yet: on PostgreSQL a lower id may commit after
# a higher one is already visible, and the cursor must not skip it.
INTEGRATION_SETTLE_SECONDS = int(os.environ.get("INTEGRATION_SETTLE_SECONDS", "2"))
INTEGRATION_RATE_PER_MINUTE = int(os.environ.get("INTEGRATION_RATE_PER_MINUTE", "600"))

# PayPay (payments.contrib.paypay, docs/payments-providers.md): the keys of the merchant's
# PayPay for Developers account; the sandbox unless PAYMENTS_PAYPAY_PRODUCTION is on.
PAYMENTS_PAYPAY_API_KEY = os.environ.get("PAYMENTS_PAYPAY_API_KEY", "")
PAYMENTS_PAYPAY_API_SECRET = os.environ.get("PAYMENTS_PAYPAY_API_SECRET", "")
PAYMENTS_PAYPAY_MERCHANT_ID = os.environ.get("PAYMENTS_PAYPAY_MERCHANT_ID", "")
PAYMENTS_PAYPAY_PRODUCTION = env_bool("PAYMENTS_PAYPAY_PRODUCTION", False)
# The convenience-store / Pay-easy collection agent (収納代行, payments.contrib.konbini).
PAYMENTS_KONBINI_API_BASE = os.environ.get("PAYMENTS_KONBINI_API_BASE", "")
PAYMENTS_KONBINI_API_KEY = os.environ.get("PAYMENTS_KONBINI_API_KEY", "")
