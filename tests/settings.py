"""Test settings: the real settings, with jobs run inline and fast password hashing."""

import os

os.environ.setdefault("SECRET_KEY", "tests-only-not-secret-" + "x" * 40)
os.environ.setdefault("MAILSYNC_SECRET_KEYS", "tests-only-mailsync-key-" + "y" * 40)

from crm.settings import *  # noqa: E402,F403

# django-q2 reads Q_CLUSTER once at import, so override_settings cannot switch it: run tasks inline.
Q_CLUSTER = {**Q_CLUSTER, "sync": True}  # noqa: F405
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
SECURE_HSTS_SECONDS = 0
ALLOWED_HOSTS = ["*"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
MEDIA_ROOT = VAR_DIR / "test-media"  # noqa: F405
# The test mail servers listen on 127.0.0.1 (transport/test_private_hosts.py turns it off).
MAILSYNC_ALLOW_PRIVATE_HOSTS = True
MAILSYNC_BCC_DOMAIN = "bcc.crm.test"
