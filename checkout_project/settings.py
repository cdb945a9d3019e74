"""Settings, read from the environment. Every variable is listed in docs/configuration.md."""

import os
import re
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int, *, minimum: int, maximum: int) -> int:
    """An integer from `minimum` to `maximum`, or the default; anything else stops the start naming `name`.

    Every number has bounds: a negative lifetime or one too big for a timedelta would otherwise be
    accepted, or fail later with an error that does not say which variable is wrong.
    """
    value = os.environ.get(name, "")
    try:
        number = int(value) if value.strip() else default
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from exc
    if not minimum <= number <= maximum:
        raise ImproperlyConfigured(f"{name} must be from {minimum} to {maximum}, got {number}.")
    return number


def env_float(name: str, *, minimum: float, maximum: float) -> float | None:
    value = os.environ.get(name, "")
    try:
        number = float(value) if value.strip() else None
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a number, got {value!r}") from exc
    if number is not None and not minimum <= number <= maximum:  # NaN fails this too
        raise ImproperlyConfigured(f"{name} must be from {minimum} to {maximum}, got {value.strip()}.")
    return number


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = os.environ.get(name, "").strip() or default
    if value not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DJANGO_DEBUG", False)

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off (set DJANGO_DEBUG=1 for development)."
        )
    SECRET_KEY = "django-insecure-development-only-key-do-not-use-in-production"
# Django's own bar for a key (check --deploy, security.W009): at least 50 characters, 5 different ones.
SECRET_KEY_MIN_LENGTH = 50
if not DEBUG and (len(SECRET_KEY) < SECRET_KEY_MIN_LENGTH or len(set(SECRET_KEY)) < 5):
    raise ImproperlyConfigured(
        f"DJANGO_SECRET_KEY must be at least {SECRET_KEY_MIN_LENGTH} random characters when DJANGO_DEBUG is off "
        f"(it signs sessions, the limio_state cookie and links); it has {len(SECRET_KEY)}. "
        "Make one with: python -c 'import secrets; print(secrets.token_urlsafe(50))'"
    )

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    # The built-in widget templates, for forms rendered with TemplatesSetting (the checkout page's).
    "django.forms",
    # The task queue's table (settings.TASKS): capture retries.
    "django_tasks_db",
    "rest_framework",
    "oauth2_provider",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "checkout_project.api",
    # Project-level management commands only (seed_demo, which seeds every app): no models.
    "checkout_project",
    "subscriptions",
    "baskets",
    "partners",
]

MIDDLEWARE = [
    # First: assigns the request id and times (and logs) everything below it.
    "checkout_project.middleware.RequestLogMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Content-Security-Policy on every response: SECURE_CSP, or a view's csp_override.
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    # Serves the admin's and the API docs' static files from gunicorn, without a CDN or nginx.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    # The admin's lists: a NUL in the query string is a 400, not PostgreSQL's error in a 500.
    "checkout_project.middleware.AdminQueryNulGuardMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "checkout_project.urls"
WSGI_APPLICATION = "checkout_project.wsgi.application"
ASGI_APPLICATION = "checkout_project.asgi.application"

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
            ],
        },
    },
]

# Seconds a connection is kept between requests (0: closed after each), at most a day.
DATABASE_CONN_MAX_AGE = env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0, maximum=86400)
DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=DATABASE_CONN_MAX_AGE,
        conn_health_checks=True,
    )
}
# PostgreSQL: bind parameters on the server and prepare the statements a connection runs often
# (psycopg's prepare_threshold), so the database plans each hot query once per connection
# instead of on every request. Off behind a transaction-pooling PgBouncer older than 1.21,
# which cannot keep prepared statements.
DATABASE_PREPARED_STATEMENTS = env_bool("DATABASE_PREPARED_STATEMENTS", True)


def _postgresql_options(database: dj_database_url.DBConfig) -> None:
    if database["ENGINE"] == "django.db.backends.postgresql" and DATABASE_PREPARED_STATEMENTS:
        database.setdefault("OPTIONS", {}).update({"server_side_binding": True, "prepare_threshold": 5})


_postgresql_options(DATABASES["default"])
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several request threads share one file: wait for the write lock instead of failing at once.
    DATABASES["default"].setdefault("OPTIONS", {}).update({"timeout": 20, "transaction_mode": "IMMEDIATE"})
    DATABASES["default"]["CONN_MAX_AGE"] = 0
# An optional read replica for the abandoned feed (GET /api/checkout/abandoned): its page reads
# go there, every other read and every write stays on the primary. The feed tolerates the
# replica's lag (a basket completed a moment ago may still be listed; its link then says so).
DATABASE_REPLICA_URL = os.environ.get("DATABASE_REPLICA_URL", "")
if DATABASE_REPLICA_URL:
    DATABASES["replica"] = {
        **dj_database_url.parse(DATABASE_REPLICA_URL, conn_max_age=DATABASE_CONN_MAX_AGE, conn_health_checks=True),
        "TEST": {"MIRROR": "default"},  # the test suite reads the replica alias from the test database
    }
    _postgresql_options(DATABASES["replica"])
ABANDONED_FEED_DATABASE = "replica" if DATABASE_REPLICA_URL else "default"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
# After the customer login page (without a `next`): the start page, not the API docs.
LOGIN_REDIRECT_URL = "/"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# baskets.Basket's dashboard indexes carry INCLUDE columns (index-only scans on PostgreSQL);
# SQLite builds them without those columns, which is what we want: no second code path.
SILENCED_SYSTEM_CHECKS = ["models.W040"]

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Without `collectstatic` (development, tests) WhiteNoise finds files in the apps directly.
WHITENOISE_USE_FINDERS = True

# --- Security -------------------------------------------------------------------------
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
# Under /api a failed CSRF check is the API's JSON 403, never Django's HTML page.
CSRF_FAILURE_VIEW = "checkout_project.api.errors.csrf_failure"
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# Behind a TLS-terminating proxy that sends X-Forwarded-Proto: https (SECURE_PROXY_SSL_HEADER=1),
# plain-http requests are redirected to https and every https answer carries HSTS, by default.
# Each is also its own switch (TLS ended by gunicorn itself, or HSTS set by the proxy).
BEHIND_TLS_PROXY = env_bool("SECURE_PROXY_SSL_HEADER", False)
if BEHIND_TLS_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", BEHIND_TLS_PROXY)
# The load balancer probes the app servers over plain http, without the proxy's header.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
# Seconds browsers remember to use https only (0: no Strict-Transport-Security header); two years at most.
SECURE_HSTS_SECONDS = env_int(
    "SECURE_HSTS_SECONDS", 365 * 24 * 3600 if BEHIND_TLS_PROXY else 0, minimum=0, maximum=2 * 365 * 24 * 3600
)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
# Consent to the browsers' preload list: opt-in, as leaving the list again takes months.
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
# Our pages load only their own static files: no inline scripts or styles, nothing from elsewhere,
# no framing. The hosted checkout pages add form-action 'self' (baskets.pages); /api/docs/ relaxes
# styles for Swagger UI (checkout_project.urls). reCAPTCHA's sources are added below when it is on.
SECURE_CSP: dict[str, list[str]] = {
    "default-src": [CSP.NONE],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "base-uri": [CSP.NONE],
    "frame-ancestors": [CSP.NONE],
}

# --- Checkout domain ---------------------------------------------------------------------
BASKET_LIFETIME = timedelta(days=env_int("BASKET_LIFETIME_DAYS", 14, minimum=1, maximum=3650))
LINK_LIFETIME = timedelta(days=env_int("LINK_LIFETIME_DAYS", 30, minimum=1, maximum=3650))
IDEMPOTENCY_KEY_LIFETIME = timedelta(hours=env_int("IDEMPOTENCY_KEY_LIFETIME_HOURS", 24, minimum=1, maximum=24 * 365))
# The most order items a basket holds (API.md §4 Limits): every write refuses a basket over it.
BASKET_MAX_ITEMS = env_int("BASKET_MAX_ITEMS", 50, minimum=1, maximum=1000)
LANDING_STATE_COOKIE = "limio_state"
LANDING_STATE_COOKIE_SECURE = not DEBUG
# Where recovery and assisted links send the customer (the hosted checkout page, or your own).
CHECKOUT_PAGE_URL = os.environ.get("CHECKOUT_PAGE_URL", "") or "/checkout/"

# --- Payments (POST /api/order, API.md §10) ---------------------------------------------
# PAYMENT_GATEWAY: `manual` (the default: records the payment as `manual`, takes no money, and
# says "no payment taken"), `stripe`, or a dotted path to a baskets.payments.PaymentGateway class
# (tests). The setting holds the dotted path.
PAYMENT_GATEWAYS = {
    "manual": "baskets.payments.ManualPaymentGateway",
    "stripe": "baskets.payments.stripe_gateway.StripePaymentGateway",
}
_payment_gateway = os.environ.get("PAYMENT_GATEWAY", "").strip() or "manual"
if _payment_gateway not in PAYMENT_GATEWAYS and not re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+", _payment_gateway):
    raise ImproperlyConfigured(
        f"PAYMENT_GATEWAY must be one of {', '.join(PAYMENT_GATEWAYS)} or a dotted path, got {_payment_gateway!r}"
    )
PAYMENT_GATEWAY = PAYMENT_GATEWAYS.get(_payment_gateway, _payment_gateway)


def env_url(name: str, default: str = "") -> str:
    """An http(s) address, or the default; anything else is refused at start-up."""
    value = os.environ.get(name, "").strip() or default
    if value and not re.fullmatch(r"https?://[^\s/?#]+(/[^\s]*)?", value):
        raise ImproperlyConfigured(f"{name} must be an http(s) URL, got {value!r}")
    return value


# Stripe (PAYMENT_GATEWAY=stripe): the API keys, the webhook signing secret (POST
# /api/webhooks/stripe), and where the API and Stripe.js are (a local fake server such as
# localstripe in tests and local runs; Stripe's own when unset). Every API request times out after
# STRIPE_TIMEOUT_SECONDS and is retried STRIPE_MAX_NETWORK_RETRIES times with its idempotency key.
STRIPE_SECRET_KEY = os.environ.get("STRIPE_SECRET_KEY", "").strip()
STRIPE_PUBLISHABLE_KEY = os.environ.get("STRIPE_PUBLISHABLE_KEY", "").strip()
STRIPE_WEBHOOK_SECRET = os.environ.get("STRIPE_WEBHOOK_SECRET", "").strip()
STRIPE_API_BASE = env_url("STRIPE_API_BASE").rstrip("/")
STRIPE_JS_URL = env_url("STRIPE_JS_URL", "https://js.stripe.com/v3/")
STRIPE_TIMEOUT_SECONDS = env_int("STRIPE_TIMEOUT_SECONDS", 10, minimum=1, maximum=120)
STRIPE_MAX_NETWORK_RETRIES = env_int("STRIPE_MAX_NETWORK_RETRIES", 1, minimum=0, maximum=5)
# The merchant's name as the customer sees it above the pay button.
MERCHANT_NAME = os.environ.get("MERCHANT_NAME", "").strip()
if STRIPE_SECRET_KEY and not STRIPE_SECRET_KEY.startswith(("sk_", "rk_")):
    raise ImproperlyConfigured("STRIPE_SECRET_KEY must be a Stripe secret key (sk_... or a restricted rk_...).")
if STRIPE_PUBLISHABLE_KEY and not STRIPE_PUBLISHABLE_KEY.startswith("pk_"):
    raise ImproperlyConfigured("STRIPE_PUBLISHABLE_KEY must be a Stripe publishable key (pk_...).")
if _payment_gateway == "stripe":
    # Like reCAPTCHA: a gateway switched on without its keys refuses to start rather than fail orders.
    required = {"STRIPE_SECRET_KEY": STRIPE_SECRET_KEY, "STRIPE_PUBLISHABLE_KEY": STRIPE_PUBLISHABLE_KEY}
    if not DEBUG:  # production: without the webhook secret no event could be trusted
        required["STRIPE_WEBHOOK_SECRET"] = STRIPE_WEBHOOK_SECRET
    missing = [name for name, value in required.items() if not value]
    if missing:
        raise ImproperlyConfigured(f"PAYMENT_GATEWAY=stripe needs {', '.join(missing)}.")

# Background tasks (Django's task framework): capture retries and voids, recovery emails. The database backend
# keeps them in this database; `manage.py db_worker` runs them (several workers may run at once).
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

# --- Abandoned-basket recovery (docs/recovery.md) ---------------------------------------
# A basket is abandoned once it has had no activity for this long (baskets.selectors
# abandoned_for_recovery: the admin, the recovery emails and the docs share it).
ABANDONED_AFTER_MINUTES = env_int("ABANDONED_AFTER_MINUTES", 60, minimum=1, maximum=60 * 24 * 30)  # up to 30 days

_DURATION_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def env_schedule(name: str, default: str) -> list[tuple[str, timedelta]]:
    """A recovery email schedule, "1h,24h": steps after the last activity, each `<n><m|h|d>`, in
    increasing order, none before a basket counts as abandoned nor after its lifetime; "off" for none.
    Each step's text (e.g. "24h") names it on the emails it sends. The default's steps that a short
    BASKET_LIFETIME_DAYS leaves no time for are left out; a step of one's own setting stops the start."""
    given = os.environ.get(name, "").strip()
    value = given or default
    if value.lower() == "off":
        return []
    steps: list[tuple[str, timedelta]] = []
    for text in (part.strip() for part in value.split(",")):
        match = re.fullmatch(r"([0-9]{1,4})([mhd])", text)
        if match is None:
            raise ImproperlyConfigured(f"{name} must look like '1h,24h' (minutes m, hours h, days d), got {value!r}")
        delay = timedelta(**{_DURATION_UNITS[match[2]]: int(match[1])})
        if steps and delay <= steps[-1][1]:
            raise ImproperlyConfigured(f"{name}: each step must come after the one before it, got {value!r}")
        if delay < timedelta(minutes=ABANDONED_AFTER_MINUTES):
            raise ImproperlyConfigured(
                f"{name}: step {text} comes before a basket counts as abandoned "
                f"(ABANDONED_AFTER_MINUTES={ABANDONED_AFTER_MINUTES})."
            )
        if delay >= BASKET_LIFETIME:
            if not given:
                continue
            raise ImproperlyConfigured(f"{name}: step {text} comes after a basket's lifetime (BASKET_LIFETIME_DAYS).")
        steps.append((text, delay))
    if len(steps) > 10:
        raise ImproperlyConfigured(f"{name} may have at most 10 steps, got {len(steps)}.")
    return steps


# When the scheduler (`manage.py send_recovery_emails`) emails an abandoned basket: each step once.
RECOVERY_EMAIL_SCHEDULE = env_schedule("RECOVERY_EMAIL_SCHEDULE", "1h,24h")
# The address customers reach this service at: the absolute links in emails (recovery, unsubscribe).
SITE_URL = env_url("SITE_URL", "http://127.0.0.1:8000" if DEBUG else "").rstrip("/")


def env_switch(name: str, default: bool) -> bool:
    """A boolean that refuses anything but 1/0, true/false, yes/no, on/off."""
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    if value not in {"1", "true", "yes", "on", "0", "false", "no", "off"}:
        raise ImproperlyConfigured(f"{name} must be 1 or 0 (true/false, yes/no, on/off), got {value!r}")
    return value in {"1", "true", "yes", "on"}


# Email (recovery emails): Django's mailers (MAILERS, Django 6.1), the default one configured by
# environment. EMAIL_BACKEND: `console` (the default with DJANGO_DEBUG: prints each message),
# `smtp` (the default otherwise: EMAIL_HOST...), `locmem`, `dummy`, or the dotted path of a
# provider's backend (e.g. anymail.backends.postmark.EmailBackend, configured by its own
# settings). The EMAIL_* variables are read here only: Django's own EMAIL_* settings are
# deprecated in favour of MAILERS and may not be set beside it.
_EMAIL_BACKENDS = {
    "console": "django.core.mail.backends.console.EmailBackend",
    "smtp": "django.core.mail.backends.smtp.EmailBackend",
    "locmem": "django.core.mail.backends.locmem.EmailBackend",
    "dummy": "django.core.mail.backends.dummy.EmailBackend",
}
_email_backend = os.environ.get("EMAIL_BACKEND", "").strip() or ("console" if DEBUG else "smtp")
if _email_backend not in _EMAIL_BACKENDS and not re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+", _email_backend):
    raise ImproperlyConfigured(
        f"EMAIL_BACKEND must be one of {', '.join(_EMAIL_BACKENDS)} or a dotted path, got {_email_backend!r}"
    )
_email_host = os.environ.get("EMAIL_HOST", "").strip() or "localhost"
if not re.fullmatch(r"[A-Za-z0-9.:\[\]-]+", _email_host):
    raise ImproperlyConfigured(f"EMAIL_HOST must be a host name or address, got {_email_host!r}")
_email_port = env_int("EMAIL_PORT", 25, minimum=1, maximum=65535)
_email_use_tls = env_switch("EMAIL_USE_TLS", False)  # STARTTLS, usually on port 587
_email_use_ssl = env_switch("EMAIL_USE_SSL", False)  # implicit TLS, usually on port 465
if _email_use_tls and _email_use_ssl:
    raise ImproperlyConfigured("EMAIL_USE_TLS and EMAIL_USE_SSL cannot both be on (STARTTLS or implicit TLS).")
# Every connection to the mail server times out (a slow server delays a background task, never a request).
_email_timeout = env_int("EMAIL_TIMEOUT_SECONDS", 10, minimum=1, maximum=120)
_email_backend = _EMAIL_BACKENDS.get(_email_backend, _email_backend)
MAILERS = {
    "default": {
        "BACKEND": _email_backend,
        # The SMTP backend's options; other backends take none from here (a provider's reads its own settings).
        "OPTIONS": {
            "host": _email_host,
            "port": _email_port,
            "username": os.environ.get("EMAIL_HOST_USER", ""),
            "password": os.environ.get("EMAIL_HOST_PASSWORD", ""),
            "use_tls": _email_use_tls,
            "use_ssl": _email_use_ssl,
            "timeout": _email_timeout,
        }
        if _email_backend == _EMAIL_BACKENDS["smtp"]
        else {},
    }
}
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "").strip() or "noreply@localhost"
if not re.fullmatch(r"[^<>@\s]+@[^<>@\s]+|[^<>@]*<[^<>@\s]+@[^<>@\s]+>", DEFAULT_FROM_EMAIL):
    raise ImproperlyConfigured(
        "DEFAULT_FROM_EMAIL must be an address (shop@example.com or Shop <shop@example.com>), "
        f"got {DEFAULT_FROM_EMAIL!r}"
    )
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- reCAPTCHA (X-Limio-Recaptcha on subscription checkout) -----------------------------
RECAPTCHA_ENABLED = env_bool("RECAPTCHA_ENABLED", not DEBUG)
_RECAPTCHA_VERIFIERS = {
    "google": "checkout_project.api.recaptcha.DjangoRecaptchaVerifier",
    "offline": "checkout_project.api.recaptcha.OfflineRecaptchaVerifier",
}
if os.environ.get("RECAPTCHA_VERIFIER", "google") not in _RECAPTCHA_VERIFIERS:
    raise ImproperlyConfigured(f"RECAPTCHA_VERIFIER must be one of {sorted(_RECAPTCHA_VERIFIERS)}")
RECAPTCHA_VERIFIER = _RECAPTCHA_VERIFIERS[os.environ.get("RECAPTCHA_VERIFIER", "google")]
RECAPTCHA_PUBLIC_KEY = os.environ.get("RECAPTCHA_PUBLIC_KEY", "")
RECAPTCHA_PRIVATE_KEY = os.environ.get("RECAPTCHA_PRIVATE_KEY", "")
RECAPTCHA_VERIFY_REQUEST_TIMEOUT = env_int("RECAPTCHA_TIMEOUT_SECONDS", 5, minimum=1, maximum=60)
RECAPTCHA_MIN_SCORE = env_float("RECAPTCHA_MIN_SCORE", minimum=0.0, maximum=1.0)
if RECAPTCHA_ENABLED and RECAPTCHA_VERIFIER.endswith("DjangoRecaptchaVerifier") and not RECAPTCHA_PRIVATE_KEY:
    raise ImproperlyConfigured(
        "reCAPTCHA is on (the default when DJANGO_DEBUG is off): set RECAPTCHA_PUBLIC_KEY and "
        "RECAPTCHA_PRIVATE_KEY, or RECAPTCHA_ENABLED=0."
    )
if RECAPTCHA_ENABLED and RECAPTCHA_VERIFIER.endswith("DjangoRecaptchaVerifier"):
    # The checkout page's reCAPTCHA widget: Google's script and its challenge frame.
    SECURE_CSP["script-src"] += ["https://www.google.com/recaptcha/", "https://www.gstatic.com/recaptcha/"]
    SECURE_CSP["frame-src"] = ["https://www.google.com/recaptcha/", "https://recaptcha.google.com/recaptcha/"]

# --- REST framework and OAuth ---------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "oauth2_provider.contrib.rest_framework.OAuth2Authentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["checkout_project.api.auth.HasRequiredScope"],
    "DEFAULT_RENDERER_CLASSES": ["checkout_project.api.parsers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["checkout_project.api.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "checkout_project.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "checkout_project.api.schema.ScopedAutoSchema",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_THROTTLE_CLASSES": ["checkout_project.api.throttling.ApplicationRateThrottle"],
}

OAUTH_SCOPES = {
    "checkout": "Create and change your own baskets; subscription checkout",
    "checkout:admin": "Assisted checkout, renewals and promo codes on any basket",
    "baskets:read": "Read the abandoned-basket feed",
    "partner": "Partner checkout for the token's partner organisation",
    "introspection": "Introspect access tokens (resource servers only)",
}

OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth2_provider.Application"
OAUTH2_PROVIDER_ACCESS_TOKEN_MODEL = "oauth2_provider.AccessToken"
OAUTH2_PROVIDER = {
    "SCOPES": OAUTH_SCOPES,
    "DEFAULT_SCOPES": [],
    "SCOPES_BACKEND_CLASS": "checkout_project.api.auth.ApplicationScopes",
    "OAUTH2_VALIDATOR_CLASS": "checkout_project.api.auth.CheckoutOAuth2Validator",
    "ACCESS_TOKEN_EXPIRE_SECONDS": 3600,
    "REFRESH_TOKEN_EXPIRE_SECONDS": 14 * 24 * 3600,
    "AUTHORIZATION_CODE_EXPIRE_SECONDS": 60,
    "PKCE_REQUIRED": True,
    "ALLOWED_REDIRECT_URI_SCHEMES": ["https", "http"] if DEBUG else ["https"],
    # RFC 9700 (OAuth 2.0 Security BCP): no implicit or password grant, PKCE with S256 only, and
    # bearer tokens only in the Authorization header (never in a URL, where logs keep them).
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    # The rest of RFC 9700 that `check --deploy` asks for: the `iss` parameter on authorization
    # responses (RFC 9207, against mix-up attacks); access and refresh tokens stored only as
    # their SHA-256 checksum (a leaked database gives no usable token; requests are looked up
    # by checksum already); a replayed refresh token revokes its whole family.
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Checkout & Baskets API",
    "DESCRIPTION": "Wire-compatible with Limio's Checkout & Baskets, Partner Checkout and "
    "Partner Subscription Checkout APIs. Authenticate with an OAuth 2.0 bearer token.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": "/api",
    "ENUM_NAME_OVERRIDES": {
        "OrderItemTypeEnum": ["offer", "add_on"],
        "OrderItemActionEnum": ["add", "remove", "update"],
        "OrderItemChangeEnum": ["add", "remove"],
        "OrderTypeEnum": ["new", "update_subscription", "renew"],
        "BasketStatusEnum": ["active", "completed", "expired"],
        "AbandonedBasketStatusEnum": ["active", "expired"],
        "NewOrderTypeEnum": ["new"],
        "SubscriptionChangeOrderTypeEnum": ["update_subscription"],
        "AddActionEnum": ["add"],
        "RemoveActionEnum": ["remove"],
        "ChangeQuantityActionEnum": ["update"],
        "ActionResultStatusEnum": ["applied", "auto"],
        "DiscountTypeEnum": ["percentage", "amount"],
        "ApplicationLevelEnum": ["wholeBasket", "selectedItems"],
        "TermTypeEnum": ["months", "years"],
        "PriceTypeEnum": ["recurring", "one_time"],
        "IdentityTypeEnum": ["customer", "email"],
        "BlockedProductReasonEnum": ["product_unavailable", "product_blocked"],
    },
    # The OAuth endpoints (django-oauth-toolkit's views) join the schema after generation.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "checkout_project.api.openapi.add_oauth_endpoints",
    ],
    "APPEND_COMPONENTS": {
        "securitySchemes": {
            "oauth2": {
                "type": "oauth2",
                "flows": {
                    "clientCredentials": {"tokenUrl": "/oauth2/token", "scopes": OAUTH_SCOPES},
                    "authorizationCode": {
                        "authorizationUrl": "/oauth2/authorize",
                        "tokenUrl": "/oauth2/token",
                        "scopes": OAUTH_SCOPES,
                    },
                },
            }
        }
    },
}

# --- Operations: cache, throttling, logs ----------------------------------------------
# Addresses of the proxies/load balancers in front (X-Forwarded-For) for throttling and logs.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0, minimum=0, maximum=10)

# The cache holds the throttle counters, so every worker of every app server must share it. The
# default is the database (the table checkout_cache, made by `migrate`): no other server to run,
# and a throttle check is one statement (checkout_project.api.cache). CACHE_URL=redis://host:6379/0
# moves it to Redis, for many app servers or very high request rates.
CACHE_URL = os.environ.get("CACHE_URL", "")
if CACHE_URL.startswith(("redis://", "rediss://", "unix://")):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CACHE_URL,
            # Passed to redis-py's connection pool: never hang a request on a slow cache.
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }
elif CACHE_URL:
    raise ImproperlyConfigured(f"CACHE_URL must be a redis://, rediss:// or unix:// URL, got {CACHE_URL!r}")
else:
    CACHES = {
        "default": {
            "BACKEND": "checkout_project.api.cache.DatabaseCache",
            "LOCATION": "checkout_cache",
            # Django culls (on set) once a cache holds more entries than this; a counter per
            # client IP, user and basket is one entry, and `expire_baskets` purges expired ones.
            "OPTIONS": {"MAX_ENTRIES": 1_000_000},
        }
    }

THROTTLE_ENABLED = env_bool("THROTTLE_ENABLED", True)
# Seconds a checked access token stays in the shared cache (checkout_project.api.token_cache);
# revoking it, or deactivating its user or partner, takes effect on the next request anyway.
# 0 loads every token from the database.
TOKEN_CACHE_SECONDS = env_int("TOKEN_CACHE_SECONDS", 60, minimum=0, maximum=3600)
# GET /api/_bench/ping, the benchmark's floor (bench/run.py sets it). Off: never in production.
BENCH_ENDPOINTS = env_bool("BENCH_ENDPOINTS", False)
THROTTLE_CACHE = "default"


# Requests per OAuth application for the scope an action requires; "anonymous" is per client IP
# for requests without a valid token. Format "<count>/<s|min|hour|day>".
def env_rate(name: str, default: str) -> str:
    """A throttle rate; a bad one is refused at start-up rather than on the first request."""
    rate = os.environ.get(name, "").strip() or default
    if not re.fullmatch(r"[0-9]{1,9}/(s|sec|second|m|min|minute|h|hour|d|day)", rate):
        raise ImproperlyConfigured(f"{name} must look like '600/min', got {rate!r}")
    if int(rate.split("/")[0]) < 1:
        raise ImproperlyConfigured(f"{name} must allow at least 1 request, got {rate!r}")
    return rate


THROTTLE_RATES = {
    "checkout": env_rate("THROTTLE_RATE_CHECKOUT", "3000/min"),
    "checkout:admin": env_rate("THROTTLE_RATE_CHECKOUT_ADMIN", "600/min"),
    "baskets:read": env_rate("THROTTLE_RATE_BASKETS_READ", "600/min"),
    "partner": env_rate("THROTTLE_RATE_PARTNER", "1200/min"),
    "anonymous": env_rate("THROTTLE_RATE_ANONYMOUS", "60/min"),
    # Per user of a customer token, on top of its application's rate for the scope.
    "customer": env_rate("THROTTLE_RATE_CUSTOMER", "300/min"),
}

# Form posts of the plain Django pages (checkout_project.api.throttling.throttle_posts), per
# client IP, and on the hosted checkout pages per basket too. A customer posts a handful of
# times a minute (a promo code, the details form again after a mistake); these stop guessing
# promo codes or passwords at machine speed. The two login forms share one counter per IP.
# POST /oauth2/token counts per client IP ("token") and per client id ("token:client"): each
# request hashes a client secret (a third of a second of CPU), and a client needs a token an hour.
THROTTLE_PAGE_RATES = {
    "pages": env_rate("THROTTLE_RATE_PAGES", "30/min"),
    "pages:basket": env_rate("THROTTLE_RATE_PAGES_BASKET", "10/min"),
    "login": env_rate("THROTTLE_RATE_LOGIN", "10/min"),
    "token": env_rate("THROTTLE_RATE_TOKEN", "30/min"),
    "token:client": env_rate("THROTTLE_RATE_TOKEN_CLIENT", "30/min"),
}

LOG_FORMAT = os.environ.get("LOG_FORMAT", "") or ("text" if DEBUG else "json")
if LOG_FORMAT not in {"json", "text"}:
    raise ImproperlyConfigured(f"LOG_FORMAT must be json or text, got {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "checkout_project.logging.RequestIdFilter"}},
    "formatters": {
        "json": {"()": "checkout_project.logging.JsonFormatter"},
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["request_id"]},
    },
    "root": {
        "handlers": ["console"],
        "level": env_choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")),
    },
    # checkout.requests already logs every response; django.request's per-4xx warning would repeat it.
    # The Stripe SDK logs every request at INFO; our gateway logs its failures itself.
    "loggers": {"django.request": {"level": "ERROR"}, "stripe": {"level": "WARNING"}},
}
