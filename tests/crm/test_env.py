import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from crm.env import anymail_settings_from_env, env_bool, env_int, env_list, parse_database_url

ROOT = Path(__file__).resolve().parents[2]


def test_env_bool_reads_the_usual_spellings(monkeypatch):
    for raw, expected in [("1", True), ("Yes", True), ("on", True), ("0", False), ("off", False)]:
        monkeypatch.setenv("FLAG", raw)
        assert env_bool("FLAG") is expected
    monkeypatch.delenv("FLAG")
    assert env_bool("FLAG", True) is True


def test_env_bool_rejects_a_typo_naming_the_variable(monkeypatch):
    monkeypatch.setenv("DEBUG", "ture")
    with pytest.raises(ImproperlyConfigured, match="DEBUG must be true or false"):
        env_bool("DEBUG")


def test_an_empty_boolean_means_its_default(monkeypatch):
    for spaces in ["", "  "]:
        monkeypatch.setenv("SECURE_SSL_REDIRECT", spaces)
        assert env_bool("SECURE_SSL_REDIRECT", True) is True
        assert env_bool("SECURE_SSL_REDIRECT", False) is False


def test_env_int_rejects_words_and_values_below_the_minimum(monkeypatch):
    monkeypatch.setenv("EMAIL_PORT", "twenty-five")
    with pytest.raises(ImproperlyConfigured, match="EMAIL_PORT must be a whole number"):
        env_int("EMAIL_PORT", 25)
    monkeypatch.setenv("EMAIL_PORT", "0")
    with pytest.raises(ImproperlyConfigured, match="at least 1"):
        env_int("EMAIL_PORT", 25, minimum=1)


def test_env_list_splits_on_commas(monkeypatch):
    monkeypatch.setenv("ALLOWED_HOSTS", " crm.example.com, ,www.crm.example.com ")
    assert env_list("ALLOWED_HOSTS") == ["crm.example.com", "www.crm.example.com"]


def test_database_url_for_postgres_and_sqlite():
    pg = parse_database_url("postgres://crm:s%40cret@db.internal:6543/crm_prod")
    assert pg["ENGINE"] == "django.db.backends.postgresql"
    assert (pg["USER"], pg["PASSWORD"], pg["HOST"], pg["PORT"], pg["NAME"]) == (
        "crm",
        "s@cret",
        "db.internal",
        "6543",
        "crm_prod",
    )
    lite = parse_database_url("sqlite:////srv/crm/db.sqlite3")
    assert lite["NAME"] == "/srv/crm/db.sqlite3"
    assert lite["OPTIONS"]["transaction_mode"] == "IMMEDIATE"


@pytest.mark.parametrize(
    "url", ["mysql://root@localhost/crm", "postgres://localhost", "sqlite://", "nonsense"]
)
def test_database_url_that_cannot_be_used_is_refused(url):
    with pytest.raises(ImproperlyConfigured):
        parse_database_url(url)


def test_anymail_settings_are_collected_from_prefixed_variables():
    env = {"ANYMAIL_MAILGUN_API_KEY": "key", "ANYMAIL_MAILGUN_SENDER_DOMAIN": "mg.example.com"}
    assert anymail_settings_from_env(env) == {
        "MAILGUN_API_KEY": "key",
        "MAILGUN_SENDER_DOMAIN": "mg.example.com",
    }


def _manage(*args, **env):
    skip = {"DJANGO_SETTINGS_MODULE", "DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    skip |= {"MAILSYNC_SECRET_KEYS"}
    base = {k: v for k, v in os.environ.items() if k not in skip}
    base.update(DJANGO_SETTINGS_MODULE="crm.settings", **env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=base,
        capture_output=True,
        text=True,
        timeout=120,
    )


PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "a-production-secret-that-is-long-and-random-" + "q7Zx" * 10,
    "ALLOWED_HOSTS": "crm.example.com",
    "DATABASE_URL": "sqlite:////tmp/crm-deploy-check.sqlite3",
    "MAILSYNC_SECRET_KEYS": "a-production-mailsync-key-" + "k" * 32,
}


def test_production_settings_pass_the_deploy_check():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    env = {**PRODUCTION, "SECRET_KEY": ""}
    result = _manage("check", **env)
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr


def test_a_bad_value_stops_start_up_with_the_variable_named():
    result = _manage("check", **{**PRODUCTION, "EMAIL_PORT": "abc"})
    assert result.returncode != 0
    assert "EMAIL_PORT must be a whole number" in result.stderr


def test_jobs_use_the_database_unless_redis_is_configured():
    code = (
        "from django.conf import settings as s; "
        "print(sorted(k for k in ('orm', 'redis') if k in s.Q_CLUSTER))"
    )
    plain = _manage("shell", "-c", code, **PRODUCTION)
    assert plain.stdout.strip().splitlines()[-1] == "['orm']", plain.stderr
    redis = _manage("shell", "-c", code, REDIS_URL="redis://127.0.0.1:6379/0", **PRODUCTION)
    assert redis.stdout.strip().splitlines()[-1] == "['redis']", redis.stderr


def test_production_refuses_to_start_without_mailbox_encryption_keys():
    result = _manage("check", **{**PRODUCTION, "MAILSYNC_SECRET_KEYS": ""})
    assert result.returncode != 0
    assert "MAILSYNC_SECRET_KEYS must be set when DEBUG is off" in result.stderr


def _setting(name: str, **env) -> str:
    code = f"from django.conf import settings as s; print(s.{name})"
    result = _manage("shell", "-c", code, **env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_an_empty_https_setting_in_production_keeps_https_on():
    env = {**PRODUCTION, "SECURE_SSL_REDIRECT": "", "SECURE_COOKIES": "", "SECURE_HSTS_PRELOAD": ""}
    assert _setting("SECURE_SSL_REDIRECT", **env) == "True"
    assert _setting("SESSION_COOKIE_SECURE", **env) == "True"
    assert _setting("SECURE_HSTS_PRELOAD", **env) == "True"


def test_a_boolean_that_is_not_one_stops_start_up_with_its_name():
    result = _manage("check", **{**PRODUCTION, "SECURE_SSL_REDIRECT": "sometimes"})
    assert result.returncode != 0
    assert "SECURE_SSL_REDIRECT must be true or false" in result.stderr


def test_rate_limits_live_in_the_database_unless_redis_is_configured():
    backend = "CACHES['default']['BACKEND']"
    assert _setting(backend, **PRODUCTION) == "django.core.cache.backends.db.DatabaseCache"
    redis_env = {**PRODUCTION, "REDIS_URL": "redis://127.0.0.1:6379/0"}
    assert _setting(backend, **redis_env) == "django.core.cache.backends.redis.RedisCache"
    # The real Redis answers through that cache, so every worker shares what is counted there.
    code = (
        "from django.core.cache import cache; cache.set('crm-env-test', 'shared', 30); "
        "print(cache.get('crm-env-test'))"
    )
    result = _manage("shell", "-c", code, **redis_env)
    assert result.stdout.strip().splitlines()[-1] == "shared", result.stderr


def test_behind_an_https_proxy_sign_in_limits_count_the_client_not_the_proxy():
    assert _setting("ALLAUTH_TRUSTED_PROXY_COUNT", **PRODUCTION) == "0"
    behind = {**PRODUCTION, "BEHIND_HTTPS_PROXY": "true"}
    assert _setting("ALLAUTH_TRUSTED_PROXY_COUNT", **behind) == "1"
    assert _setting("ALLAUTH_TRUSTED_PROXY_COUNT", **behind, TRUSTED_PROXY_COUNT="2") == "2"
