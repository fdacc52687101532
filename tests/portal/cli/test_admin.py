"""``antrean admin create-user`` makes an account whose password works once printed."""

from __future__ import annotations

import re

import pytest
from starlette.testclient import TestClient

from portal.app import create_app
from portal.cli.main import main
from portal.settings import Settings
from tests.support.admin import log_in


def test_create_user_prints_a_generated_password_once(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ANTREAN_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("ANTREAN_VAR_DIR", str(settings.var_dir))
    assert main(["admin", "create-user", "Operator.Satu", "--role", "operator",
                 "--generate"]) == 0
    out = capsys.readouterr().out
    password = re.search(r"kata sandi: (\S+)", out)
    assert password and "operator.satu (operator)" in out
    with pytest.raises(SystemExit):
        main(["admin", "create-user", "operator.satu", "--generate"])  # the name is taken
    with TestClient(create_app(settings)) as client:
        log_in(client, "operator.satu", password.group(1))
        assert client.get("/admin/ekspor").status_code == 200
