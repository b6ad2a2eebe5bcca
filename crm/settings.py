"""Settings for the CRM, read from the environment (see .env.example and the README).

Defaults make a fresh checkout run on SQLite with `make run`; production sets DEBUG=false,
SECRET_KEY, ALLOWED_HOSTS and DATABASE_URL.
"""

import secrets
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from crm.env import (
    anymail_settings_from_env,
    env_bool,
    env_int,
    env_list,
    env_str,
    env_url,
    parse_database_url,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("VAR_DIR") or BASE_DIR / "var")

DEBUG = env_bool("DEBUG", False)


def _local_secret(name: str) -> str:
    """The secret in environment variable `name`; with DEBUG on and none set, one generated
    into var/ once and kept across restarts (local use only). Required when DEBUG is off."""
    value = env_str(name)
    if value:
        return value
    if not DEBUG:
        raise ImproperlyConfigured(
            f"{name} must be set when DEBUG is off (a long random string; see .env.example)"
        )
    path = VAR_DIR / name.lower()
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _local_secret("SECRET_KEY")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    # allauth's Google and Microsoft providers, with our endpoints and mail scopes (mailsync/oauth)
    "mailsync.oauth.google.apps.GoogleMailConfig",
    "mailsync.oauth.microsoft.apps.MicrosoftMailConfig",
    "django_q",
    "anymail",
    "django_htmx",
    "crm",
    "mailsync",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "crm.urls"
WSGI_APPLICATION = "crm.wsgi.application"
ASGI_APPLICATION = "crm.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "mailsync.context_processors.deals_to_choose",
                "mailsync.context_processors.social_sign_in",
            ],
        },
    },
]

DATABASES = {
    "default": parse_database_url(env_str("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'crm.sqlite3'}")
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "crm.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "crm:dashboard"

# django-allauth: sign in with an email address; the address is verified by a link.
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = env_str("ACCOUNT_EMAIL_VERIFICATION", "mandatory")
ACCOUNT_ALLOW_REGISTRATION = env_bool("ACCOUNT_ALLOW_REGISTRATION", True)
ACCOUNT_ADAPTER = "crm.adapters.AccountAdapter"
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_EMAIL_SUBJECT_PREFIX = env_str("ACCOUNT_EMAIL_SUBJECT_PREFIX", "[CRM] ")

# Google and Microsoft: mailboxes connect through them (mailsync/views/oauth.py); signing in to
# the CRM with them is the installation's choice, for existing users only, by verified address.
SOCIALACCOUNT_ADAPTER = "mailsync.views.oauth.SocialAccountAdapter"
SOCIALACCOUNT_LOGIN_ENABLED = env_bool("SOCIALACCOUNT_LOGIN_ENABLED", False)
# Tokens go encrypted into mailsync's OAuthGrant, never in clear into allauth's SocialToken.
SOCIALACCOUNT_STORE_TOKENS = False
SOCIALACCOUNT_EMAIL_AUTHENTICATION = True
SOCIALACCOUNT_EMAIL_AUTHENTICATION_AUTO_CONNECT = True
SOCIALACCOUNT_PROVIDERS = {
    "google": {"OAUTH_PKCE_ENABLED": True},
    "microsoft": {
        "OAUTH_PKCE_ENABLED": True,
        "TENANT": env_str("MICROSOFT_OAUTH_TENANT", "organizations"),
    },
}

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("it", _("Italian"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
USE_TZ = True
TIME_ZONE = env_str("TIME_ZONE", "Europe/Rome")

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT") or VAR_DIR / "media")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Lets `make run` and the test live server serve static files without collectstatic.
WHITENOISE_USE_FINDERS = DEBUG

# Mail the app itself sends (sign-up verification, password reset, notices). Any Django backend:
# SMTP by default in production, or a django-anymail ESP, e.g.
# EMAIL_BACKEND=anymail.backends.mailgun.EmailBackend with ANYMAIL_MAILGUN_API_KEY=...
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("EMAIL_USE_TLS and EMAIL_USE_SSL cannot both be true")
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 30, minimum=1)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "CRM <crm@localhost>")
SERVER_EMAIL = env_str("SERVER_EMAIL", DEFAULT_FROM_EMAIL)
ANYMAIL = anymail_settings_from_env()

# django-q2: the database is the queue unless REDIS_URL names a Redis server.
REDIS_URL = env_str("REDIS_URL")
Q_CLUSTER = {
    "name": "crm",
    "workers": env_int("Q_WORKERS", 2, minimum=1),
    "timeout": env_int("Q_TIMEOUT", 600, minimum=10),
    "retry": env_int("Q_TIMEOUT", 600, minimum=10) + 60,  # must exceed timeout
    "max_attempts": 1,
    "ack_failures": True,
    "catch_up": False,
    "label": "Jobs",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

# The cache holds the sign-in rate limits (allauth's, which the admin sign-in shares; see
# crm/admin.py). Django's default, a per-process memory cache, would let each web worker count
# apart and forget on restart: use the database (its table is made by crm's migration 0003) or,
# with REDIS_URL, Redis.
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "django_cache",
        }
    }

# Security. Production (DEBUG off) is HTTPS-only unless the operator says otherwise, so that
# `manage.py check --deploy` reports nothing.
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_HTTPS_PROXY", False) else None
)
# Sign-in rate limits count per client address: behind the proxy every request comes from the
# proxy's, so read the client's from the last X-Forwarded-For entry (the one the proxy added),
# or one burst of wrong passwords would lock everybody out.
ALLAUTH_TRUSTED_PROXY_COUNT = env_int(
    "TRUSTED_PROXY_COUNT", 1 if SECURE_PROXY_SSL_HEADER else 0, minimum=0
)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True

CRM_DEFAULT_CURRENCY = env_str("CRM_DEFAULT_CURRENCY", "EUR")
CRM_PAGE_SIZE = env_int("CRM_PAGE_SIZE", 25, minimum=1)
CRM_IMPORT_MAX_BYTES = env_int("CRM_IMPORT_MAX_BYTES", 10 * 1024 * 1024, minimum=1024)
# CSV imports and exports of more rows than this run as a django-q2 job (crm/csv_jobs.py)
# instead of in the web request, which a large file would hold for minutes.
CRM_CSV_BACKGROUND_ROWS = env_int("CRM_CSV_BACKGROUND_ROWS", 2000, minimum=1)


# Mail sync. Secrets (mailbox passwords, OAuth tokens) are encrypted with MAILSYNC_SECRET_KEYS:
# comma-separated, newest first, each at least 32 characters (see mailsync/secrets.py).
MAILSYNC_SECRET_KEYS = env_list("MAILSYNC_SECRET_KEYS") or [_local_secret("MAILSYNC_SECRET_KEYS")]
# Extra certificate authorities to trust for IMAP and SMTP (a PEM file), on top of the system's.
MAILSYNC_CA_FILE = env_str("MAILSYNC_CA_FILE")
if MAILSYNC_CA_FILE and not Path(MAILSYNC_CA_FILE).is_file():
    raise ImproperlyConfigured(f"MAILSYNC_CA_FILE names no file: {MAILSYNC_CA_FILE}")
MAILSYNC_TIMEOUT = env_int("MAILSYNC_TIMEOUT", 30, minimum=1)
# Mail servers on loopback, private or link-local addresses are refused unless this is on: the
# connection test must not be a scanner of the installation's own network (mailsync/hosts.py).
MAILSYNC_ALLOW_PRIVATE_HOSTS = env_bool("MAILSYNC_ALLOW_PRIVATE_HOSTS", False)
MAILSYNC_MAX_RECIPIENTS = env_int("MAILSYNC_MAX_RECIPIENTS", 100, minimum=1)
MAILSYNC_MAX_MESSAGE_BYTES = env_int("MAILSYNC_MAX_MESSAGE_BYTES", 25 * 1024 * 1024, minimum=1024)
MAILSYNC_MAX_ATTACHMENT_BYTES = env_int(
    "MAILSYNC_MAX_ATTACHMENT_BYTES", 20 * 1024 * 1024, minimum=1024
)
# Messages are fetched and stored in batches of at most this many messages and about this many
# bytes, so memory stays flat whatever the size of the mailbox.
MAILSYNC_FETCH_BATCH = env_int("MAILSYNC_FETCH_BATCH", 200, minimum=1)
MAILSYNC_BATCH_BYTES = env_int("MAILSYNC_BATCH_BYTES", 16 * 1024 * 1024, minimum=1024)
MAILSYNC_SYNC_MINUTES = env_int("MAILSYNC_SYNC_MINUTES", 5, minimum=1)
# A sync renews its claim on the account after every batch; a claim older than this belongs to
# a worker that died, and the account is due again (its run recorded as interrupted).
MAILSYNC_STALE_CLAIM_SECONDS = env_int("MAILSYNC_STALE_CLAIM_SECONDS", 600, minimum=1)

# Where reps reach the CRM, for the links in mail it sends without a request at hand (a
# mailbox that must be connected again).
CRM_BASE_URL = env_url(
    "CRM_BASE_URL",
    "http://localhost:8000" if DEBUG else f"https://{(ALLOWED_HOSTS or ['localhost'])[0]}",
).rstrip("/")

# Google and Microsoft 365 mailboxes over OAuth2 (mailsync/oauth). Every endpoint and mail host
# is a setting, so that the tests and an operator's own checks can point them at local servers.
GOOGLE_OAUTH_CLIENT_ID = env_str("GOOGLE_OAUTH_CLIENT_ID")
GOOGLE_OAUTH_CLIENT_SECRET = env_str("GOOGLE_OAUTH_CLIENT_SECRET")
GOOGLE_OAUTH_AUTHORIZE_URL = env_url(
    "GOOGLE_OAUTH_AUTHORIZE_URL", "https://accounts.google.com/o/oauth2/v2/auth"
)
GOOGLE_OAUTH_TOKEN_URL = env_url("GOOGLE_OAUTH_TOKEN_URL", "https://oauth2.googleapis.com/token")
GOOGLE_OAUTH_USERINFO_URL = env_url(
    "GOOGLE_OAUTH_USERINFO_URL", "https://openidconnect.googleapis.com/v1/userinfo"
)
GOOGLE_OAUTH_REVOKE_URL = env_url("GOOGLE_OAUTH_REVOKE_URL", "https://oauth2.googleapis.com/revoke")
GOOGLE_IMAP_HOST = env_str("GOOGLE_IMAP_HOST", "imap.gmail.com")
GOOGLE_IMAP_PORT = env_int("GOOGLE_IMAP_PORT", 993, minimum=1)
GOOGLE_SMTP_HOST = env_str("GOOGLE_SMTP_HOST", "smtp.gmail.com")
GOOGLE_SMTP_PORT = env_int("GOOGLE_SMTP_PORT", 465, minimum=1)
MICROSOFT_OAUTH_CLIENT_ID = env_str("MICROSOFT_OAUTH_CLIENT_ID")
MICROSOFT_OAUTH_CLIENT_SECRET = env_str("MICROSOFT_OAUTH_CLIENT_SECRET")
# "organizations": any work or school account; a tenant's id or domain: that tenant only.
MICROSOFT_OAUTH_TENANT = env_str("MICROSOFT_OAUTH_TENANT", "organizations")
MICROSOFT_OAUTH_AUTHORIZE_URL = env_url(
    "MICROSOFT_OAUTH_AUTHORIZE_URL",
    f"https://login.microsoftonline.com/{MICROSOFT_OAUTH_TENANT}/oauth2/v2.0/authorize",
)
MICROSOFT_OAUTH_TOKEN_URL = env_url(
    "MICROSOFT_OAUTH_TOKEN_URL",
    f"https://login.microsoftonline.com/{MICROSOFT_OAUTH_TENANT}/oauth2/v2.0/token",
)
MICROSOFT_OAUTH_USERINFO_URL = env_url(
    "MICROSOFT_OAUTH_USERINFO_URL", "https://graph.microsoft.com/oidc/userinfo"
)
MICROSOFT_IMAP_HOST = env_str("MICROSOFT_IMAP_HOST", "outlook.office365.com")
MICROSOFT_IMAP_PORT = env_int("MICROSOFT_IMAP_PORT", 993, minimum=1)
MICROSOFT_SMTP_HOST = env_str("MICROSOFT_SMTP_HOST", "smtp.office365.com")
MICROSOFT_SMTP_PORT = env_int("MICROSOFT_SMTP_PORT", 587, minimum=1)
# The BCC addresses' domain: mail to <random>@MAILSYNC_BCC_DOMAIN reaches a rep's (or a deal's)
# records. Empty: no BCC addresses (the mailbox page says so).
MAILSYNC_BCC_DOMAIN = env_str("MAILSYNC_BCC_DOMAIN", "bcc.localhost" if DEBUG else "").lower()
# An access token is refreshed when it has less than this left, before a sign-in needs it.
MAILSYNC_OAUTH_REFRESH_MARGIN_SECONDS = env_int(
    "MAILSYNC_OAUTH_REFRESH_MARGIN_SECONDS", 300, minimum=0
)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django_q": {"level": env_str("LOG_LEVEL_Q", "WARNING")}},
}
