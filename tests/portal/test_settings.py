"""Settings come from the environment; production refuses generated defaults."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from portal.settings import Settings, SettingsError


def test_development_defaults_live_under_var(tmp_path: Path) -> None:
    settings = Settings.from_env({"ANTREAN_VAR_DIR": str(tmp_path)})
    assert settings.database_url == f"sqlite:///{tmp_path / 'antrean.db'}"
    assert settings.redis_url is None  # antrean run starts the embedded server
    assert settings.timezone == "Asia/Jakarta"
    secret = str(settings.secret_key)
    assert len(secret) >= 32
    # generated once: the next process reads the same key
    assert str(Settings.from_env({"ANTREAN_VAR_DIR": str(tmp_path)}).secret_key) == secret
    assert secret not in repr(settings)


def test_production_needs_secret_and_database(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="ANTREAN_SECRET_KEY and ANTREAN_DATABASE_URL"):
        Settings.from_env({"ANTREAN_ENV": "production", "ANTREAN_VAR_DIR": str(tmp_path)})
    with pytest.raises(SettingsError, match="ANTREAN_DATABASE_URL"):
        Settings.from_env({"ANTREAN_ENV": "production", "ANTREAN_SECRET_KEY": "s" * 40})
    with pytest.raises(SettingsError, match="32 characters"):
        Settings.from_env({"ANTREAN_ENV": "production", "ANTREAN_SECRET_KEY": "short",
                           "ANTREAN_DATABASE_URL": "postgresql://db/antrean"})
    settings = Settings.from_env({
        "ANTREAN_ENV": "production", "ANTREAN_SECRET_KEY": "s" * 40,
        "ANTREAN_DATABASE_URL": "postgresql://u@db/antrean",
        "ANTREAN_REDIS_URL": "redis://cache:6379/0",
    })
    assert settings.database_url == "postgresql+psycopg://u@db/antrean"
    assert settings.cookie_secure and not settings.demo


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("ANTREAN_PORT", "eighty", "whole number"),
        ("ANTREAN_TIMEZONE", "Mars/Olympus", "time zone"),
        ("ANTREAN_MAX_ACTIVE", "0", "max_active"),
        ("ANTREAN_ENV", "staging", "ANTREAN_ENV"),
        ("ANTREAN_FAIL_MODE", "sideways", "FAIL_MODE"),
        ("ANTREAN_COOKIE_SECURE", "perhaps", "true or false"),
        ("ANTREAN_ADMIN_TOKEN", "x" * 31, "at least 32"),
        ("ANTREAN_WEB_WORKERS", "0", "at least 1"),
        ("ANTREAN_HEADER_TIMEOUT_SECONDS", "0", "at least 1"),
        ("ANTREAN_HEADER_TIMEOUT_SECONDS", "301", "at most 300"),
        ("ANTREAN_HEADER_TIMEOUT_SECONDS", "2.5", "whole number"),
        ("ANTREAN_ADMIN_LOCK_SECONDS", "soon", "whole number"),
        ("ANTREAN_SMTP_SECURITY", "ssl3", "none, starttls or tls"),
        ("ANTREAN_METRICS_ALLOW", "10.0.0.0/33", "METRICS_ALLOW"),
    ],
)
def test_bad_values_stop_start_up_with_a_clear_message(
    tmp_path: Path, name: str, value: str, message: str
) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env({"ANTREAN_VAR_DIR": str(tmp_path), name: value})


def test_room_defaults_come_from_the_environment(tmp_path: Path) -> None:
    settings = Settings.from_env({"ANTREAN_VAR_DIR": str(tmp_path), "ANTREAN_MAX_ACTIVE": "250",
                                  "ANTREAN_IDLE_TIMEOUT_SECONDS": "300"})
    assert settings.room_defaults.max_active == 250
    assert settings.room_defaults.idle_timeout_seconds == 300


def test_one_reader_gives_every_part_its_settings(tmp_path: Path) -> None:
    settings = Settings.from_env({
        "ANTREAN_VAR_DIR": str(tmp_path), "ANTREAN_REDIS_URL": "redis://cache:6379/2",
        "ANTREAN_REDIS_PREFIX": "bkd", "ANTREAN_ADMIN_ACCOUNT_FAILURES": "7",
        "ANTREAN_SMTP_HOST": "mail.bkd.example", "ANTREAN_TIMEZONE": "Asia/Makassar"})
    assert settings.admin.account_failures == 7
    notify = settings.notify
    assert notify.smtp_host == "mail.bkd.example" and not notify.outbox
    # The services, zone and secret are the process's own, in every part.
    assert (notify.redis_url, notify.redis_prefix, notify.timezone) == (
        "redis://cache:6379/2", "bkd", "Asia/Makassar")
    assert str(notify.secret_key) == str(settings.secret_key)
    moved = replace(settings, redis_url="redis://other:6379/0")
    assert moved.notify.redis_url == "redis://other:6379/0"


def test_uploads_stay_in_the_local_directory_unless_told(tmp_path: Path) -> None:
    settings = Settings.from_env({"ANTREAN_VAR_DIR": str(tmp_path)})
    assert settings.uploads.store == "local" and settings.uploads.s3_bucket == ""


def test_an_s3_store_is_read_with_its_secrets_kept_out_of_reprs(tmp_path: Path) -> None:
    uploads = Settings.from_env({
        "ANTREAN_VAR_DIR": str(tmp_path), "ANTREAN_UPLOAD_STORE": "S3",
        "ANTREAN_S3_BUCKET": "bkd-banten.berkas", "ANTREAN_S3_REGION": "ap-southeast-3",
        "ANTREAN_S3_ENDPOINT_URL": "https://s3.bkd.example", "ANTREAN_S3_PREFIX": "/2031/pdf/",
        "ANTREAN_S3_ACCESS_KEY_ID": "AKIAKEYIDSHOULDNOTSHOW",
        "ANTREAN_S3_SECRET_ACCESS_KEY": "secret-that-should-not-show",
        "ANTREAN_S3_ACL": "bucket-owner-full-control"}).uploads
    assert (uploads.store, uploads.s3_bucket, uploads.s3_prefix, uploads.s3_acl) == (
        "s3", "bkd-banten.berkas", "2031/pdf/", "bucket-owner-full-control")
    assert str(uploads.s3_secret_access_key) == "secret-that-should-not-show"
    assert "should-not-show" not in repr(uploads) and "SHOULDNOTSHOW" not in repr(uploads)


@pytest.mark.parametrize(("variables", "message"), [
    ({"ANTREAN_UPLOAD_STORE": "s3"}, "needs ANTREAN_S3_BUCKET"),
    ({"ANTREAN_UPLOAD_STORE": "ftp"}, "ANTREAN_UPLOAD_STORE must be local or s3"),
    ({"ANTREAN_UPLOAD_STORE": "s3", "ANTREAN_S3_BUCKET": "Berkas_BKD"},
     "not a valid bucket name"),
    ({"ANTREAN_UPLOAD_STORE": "s3", "ANTREAN_S3_BUCKET": "berkas",
      "ANTREAN_S3_ENDPOINT_URL": "s3.bkd.example"}, "http:// or https://"),
    ({"ANTREAN_UPLOAD_STORE": "s3", "ANTREAN_S3_BUCKET": "berkas",
      "ANTREAN_S3_ACCESS_KEY_ID": "AKIAONLYTHEID"}, "go together"),
    ({"ANTREAN_UPLOAD_STORE": "s3", "ANTREAN_S3_BUCKET": "berkas",
      "ANTREAN_S3_SECRET_ACCESS_KEY": "only-the-secret"}, "go together"),
    ({"ANTREAN_UPLOAD_STORE": "s3", "ANTREAN_S3_BUCKET": "berkas",
      "ANTREAN_S3_PREFIX": "../up"}, "ANTREAN_S3_PREFIX"),
    ({"ANTREAN_UPLOAD_STORE": "s3", "ANTREAN_S3_BUCKET": "berkas",
      "ANTREAN_S3_ACL": "public-read"}, "ANTREAN_S3_ACL must be"),
    # Without ANTREAN_UPLOAD_STORE=s3 each node would keep its own files.
    ({"ANTREAN_S3_BUCKET": "berkas"}, "ANTREAN_S3_BUCKET set, but ANTREAN_UPLOAD_STORE is local"),
])
def test_incomplete_s3_settings_refuse_to_start(tmp_path: Path, variables: dict[str, str],
                                               message: str) -> None:
    with pytest.raises(SettingsError, match=message) as refused:
        Settings.from_env({"ANTREAN_VAR_DIR": str(tmp_path), **variables})
    assert "only-the-secret" not in str(refused.value)
