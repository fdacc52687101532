"""The samples under deploy/ agree with the code: settings it reads, packages it needs."""

from __future__ import annotations

import json
import re
import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version
from starlette.testclient import TestClient

from portal.app import create_app
from portal.cli.main import build_parser
from portal.settings import Settings
from tests.support import ROOT
from tests.support.deployment import DEPLOY, UNITS, read_env_file, read_unit
from tests.support.metrics import sample_names


def _locked_hashes() -> dict[str, tuple[Version, list[str]]]:
    """Each pin of the lock file: its version and the hashes of its files."""
    pins: dict[str, tuple[Version, list[str]]] = {}
    name = ""
    for line in (DEPLOY / "requirements.lock").read_text().splitlines():
        stripped = line.strip().removesuffix("\\").strip()
        if not stripped or stripped.startswith("#"):
            continue
        if not line[0].isspace():
            name, _, version = stripped.partition("==")
            name = canonicalize_name(name)
            pins[name] = (Version(version), [])
        elif stripped.startswith("--hash=sha256:"):
            pins[name][1].append(stripped.removeprefix("--hash=sha256:"))
    return pins


def _locked() -> dict[str, Version]:
    return {name: version for name, (version, _) in _locked_hashes().items()}


def test_every_locked_package_is_installed_by_its_hashes() -> None:
    # pip installs a file with hashes in hash-checking mode: every package needs them,
    # for every platform's wheel (a compiled package has one per platform and Python).
    pins = _locked_hashes()
    assert all(len(hashes) >= 1 and all(len(h) == 64 for h in hashes)
               for _, hashes in pins.values()), pins
    assert len(pins["uvloop"][1]) > 10  # not only this machine's wheel


def test_the_lock_file_pins_every_dependency_within_its_range() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = _locked()
    for spec in project["dependencies"]:
        requirement = Requirement(spec)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not in deploy/requirements.lock"
        assert requirement.specifier.contains(pins[name]), (name, str(pins[name]))


def test_the_sample_settings_are_read_as_a_production_machine_reads_them() -> None:
    values = read_env_file(DEPLOY / "antrean.env")
    assert all(name.startswith("ANTREAN_") for name in values)
    settings = Settings.from_env(values)
    assert settings.production and settings.uploads.store == "s3"
    assert settings.job_redis_url == values["ANTREAN_JOB_REDIS_URL"]
    # Every name in the sample is one the code reads (a typo would be silently ignored).
    code = "\n".join(path.read_text() for path in (ROOT / "portal").rglob("*.py"))
    read = set(re.findall(r'"([A-Z][A-Z0-9_]+)"', code))
    unknown = [name for name in values if name.removeprefix("ANTREAN_") not in read]
    assert not unknown, unknown


def test_every_unit_and_procfile_line_runs_a_command_that_exists() -> None:
    parser = build_parser()
    [sub] = [action for action in parser._actions if action.dest == "command"]
    assert isinstance(sub.choices, dict)
    commands = set(sub.choices)
    for name in (*UNITS, "antrean-migrate.service"):
        words = read_unit(DEPLOY / "systemd" / name).command()[3:]
        assert words[0] in commands, (name, words)
    for line in (DEPLOY / "Procfile").read_text().splitlines():
        _, _, command = line.partition(": ")
        assert command.split()[0] == "antrean" and command.split()[1] in commands, line


_METRIC = re.compile(r"\b(antrean_[a-z0-9_]+|process_[a-z0-9_]+)")


def test_the_dashboard_and_the_alerts_use_only_metrics_that_metrics_exposes(
        settings: Settings) -> None:
    yaml = pytest.importorskip("yaml")
    dashboard = json.loads((DEPLOY / "grafana" / "antrean.json").read_text())
    assert dashboard["schemaVersion"] >= 39
    assert any(v["type"] == "datasource" and v["query"] == "prometheus"
               for v in dashboard["templating"]["list"])
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    assert all(panel["datasource"]["uid"] == "${datasource}" for panel in dashboard["panels"])
    alerts = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    rules = [rule for group in alerts["groups"] for rule in group["rules"]]
    assert {rule["alert"] for rule in rules} >= {
        "AntreanQueueNotMoving", "AntreanHighErrorRate", "AntreanTargetDown",
        "AntreanRedisDown", "AntreanNotificationsFailing"}
    assert all(rule["expr"] and rule["for"] for rule in rules)
    with TestClient(create_app(settings), client=("127.0.0.1", 40000)) as client:
        client.get("/readyz")  # so the request histogram has a series
        exposed = sample_names(client.get("/metrics").text)
    used = {name for expr in [*exprs, *(rule["expr"] for rule in rules)]
            for name in _METRIC.findall(expr)}
    assert used and not used - exposed, used - exposed
