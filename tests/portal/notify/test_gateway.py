"""The SMS gateway's success rule and credentials, as plain values and as settings."""

from __future__ import annotations

import base64
import re

import pytest

from portal.environment import SettingsError
from portal.notify.channels import build_sms_request
from portal.notify.gateway import (
    SuccessRule,
    parse_statuses,
    refusal,
    split_credentials,
    summarise,
)
from portal.notify.settings import NotifySettings
from tests.support.notify import TEST_SECRET

BASE = {"ANTREAN_ENV": "test", "ANTREAN_SECRET_KEY": TEST_SECRET}


def read(**variables: str) -> NotifySettings:
    return NotifySettings.from_env({**BASE, **{f"ANTREAN_{k}": v for k, v in variables.items()}})


def test_statuses_are_read_as_classes_codes_and_ranges() -> None:
    assert parse_statuses("2xx") == ((200, 299),)
    assert parse_statuses("200, 202,300-302") == ((200, 200), (202, 202), (300, 302))
    for bad in ("", "20", "2xx,abc", "299-200", "600"):
        with pytest.raises(ValueError):
            parse_statuses(bad)


@pytest.mark.parametrize(("rule", "status", "body", "reason"), [
    (SuccessRule(), 200, b"anything", None),
    (SuccessRule(), 503, b"", "sms gateway answered 503"),
    (SuccessRule(statuses=((202, 202),)), 200, b"", "sms gateway answered 200"),
    (SuccessRule(field="status", values=("ok",)), 200, b'{"status": "OK"}', None),
    (SuccessRule(field="status", values=("ok",)), 200, b'{"status": "failed"}',
     "sms gateway answered 200 with status=failed"),
    (SuccessRule(field="result.code", values=("0",)), 200, b'{"result": {"code": 0}}', None),
    (SuccessRule(field="status", values=("ok",)), 200, b"<html>Error 0812-3456-7890</html>",
     "sms gateway answered 200 without JSON: <html>Error <number></html>"),
    (SuccessRule(field="status", values=("ok",)), 200, b'{"error": "no credit"}',
     'sms gateway answered 200 without status: {"error": "no credit"}'),
    (SuccessRule(pattern=re.compile("^OK")), 200, b"OK 1234", None),
    (SuccessRule(pattern=re.compile("^OK")), 200, b"ERR to siti@example.com",
     "sms gateway answered 200 not matching the success pattern: ERR to <email>"),
])
def test_the_rule_decides_and_names_why(rule: SuccessRule, status: int, body: bytes,
                                        reason: str | None) -> None:
    assert refusal(rule, status, body) == reason


def test_a_summary_is_short_and_masks_numbers() -> None:
    summary = summarise('{"to": "+62 812-3456-7890", "nik": "3201234567890123"}' + " x" * 200)
    assert "812" not in summary and "3201" not in summary and len(summary) <= 80


def test_user_info_is_lifted_out_of_the_url() -> None:
    assert split_credentials("https://sms.example/send?to={to}") == (
        "https://sms.example/send?to={to}", None)
    url, basic = split_credentials("https://ops:p%40ss@sms.example:8443/send")
    assert url == "https://sms.example:8443/send"
    assert basic == "Basic " + base64.b64encode(b"ops:p@ss").decode()


def test_the_settings_keep_credentials_as_a_secret_and_read_the_rule() -> None:
    settings = read(SMS_URL="https://ops:hunter2@sms.example/send",
                    SMS_SUCCESS_STATUSES="200,202", SMS_SUCCESS_FIELD="status",
                    SMS_SUCCESS_VALUES="ok, sent,queued", SMS_SUCCESS_PATTERN="id")
    assert settings.sms_url == "https://sms.example/send"
    assert "hunter2" not in repr(settings)
    assert settings.sms_success.statuses == ((200, 200), (202, 202))
    assert settings.sms_success.values == ("ok", "sent", "queued")
    request = build_sms_request(settings, "+6281234567890", "Halo", "ref-1")
    assert request.url == "https://sms.example/send"
    assert request.headers["Authorization"].startswith("Basic ")
    assert read().sms_success == SuccessRule()


@pytest.mark.parametrize("variables", [
    {"SMS_SUCCESS_STATUSES": "ok"},
    {"SMS_SUCCESS_FIELD": "status"},
    {"SMS_SUCCESS_VALUES": "ok"},
    {"SMS_SUCCESS_PATTERN": "("},
    {"SMS_URL": "https://ops:pw@sms.example/send",
     "SMS_AUTH_HEADER": "Authorization: Bearer abc"},
])
def test_a_bad_rule_or_two_credentials_stop_start_up(variables: dict[str, str]) -> None:
    with pytest.raises(SettingsError) as raised:
        read(**variables)
    assert "pw" not in str(raised.value)
