"""``antrean run`` on embedded defaults: serves the spine, stops cleanly on Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support import ROOT
from tests.support.servers import free_port


@pytest.mark.slow
def test_run_starts_everything_and_ctrl_c_stops_it(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTREAN_")}
    env.update({"ANTREAN_VAR_DIR": str(tmp_path / "var"), "ANTREAN_PORT": str(port)})
    process = subprocess.Popen(
        [sys.executable, "-m", "portal.cli.main", "run"], env=env, cwd=ROOT,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        ready = False
        while time.monotonic() < deadline and not ready:
            try:
                ready = httpx.get(f"{url}/readyz", timeout=1).status_code == 200
            except httpx.HTTPError:
                time.sleep(0.3)
        assert ready, "antrean run did not become ready"
        with httpx.Client(base_url=url) as client:
            assert "Ambil nomor antrean" in client.get("/").text
            joined = client.post("/api/v1/queue/join", json={}).json()
            assert joined["state"] == "admitted"
        assert (tmp_path / "var" / "antrean.db").exists()
        assert (tmp_path / "var" / "secret_key").exists()
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert f"http://127.0.0.1:{port}/" in output
    # every child is gone: nothing answers on the port any more
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{url}/healthz", timeout=1)
    assert "Traceback" not in output
