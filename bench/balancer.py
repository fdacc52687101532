"""HAProxy with the sample configuration (``deploy/haproxy/haproxy.cfg``) and a
throwaway certificate: the balancer of the several-node tests and of ``bench.million``."""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import time
from pathlib import Path

import httpx

from bench.servers import ROOT, free_port

DEPLOY = ROOT / "deploy"


def haproxy_binary() -> str | None:
    return shutil.which("haproxy") or next(
        (path for path in ("/usr/sbin/haproxy",) if os.access(path, os.X_OK)), None)


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 made with openssl: (PEM of chain and key, CA file)."""
    key, cert = directory / "lb.key", directory / "lb.crt"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True)
    bundle = directory / "lb.pem"
    bundle.write_bytes(cert.read_bytes() + key.read_bytes())
    return bundle, cert


class Balancer:
    """HAProxy with ``deploy/haproxy/haproxy.cfg``, in front of web servers at ``addresses``
    (``host:port``; the sample configuration names three)."""

    def __init__(self, directory: Path, addresses: list[str]) -> None:
        self.directory, self.addresses = directory, addresses
        self.http_port, self.https_port = free_port(), free_port()
        self.url = f"https://127.0.0.1:{self.https_port}"
        self.process: subprocess.Popen[bytes] | None = None
        directory.mkdir(parents=True, exist_ok=True)
        self.bundle, self.ca_file = self_signed_certificate(directory)

    def start(self) -> None:
        """Check the sample configuration, start HAProxy, wait until it serves."""
        binary = haproxy_binary()
        assert binary is not None
        env = {**os.environ, "ANTREAN_LB_HTTP": f"127.0.0.1:{self.http_port}",
               "ANTREAN_LB_HTTPS": f"127.0.0.1:{self.https_port}",
               "ANTREAN_LB_CERT": str(self.bundle)}
        for number, address in enumerate(self.addresses, start=1):
            env[f"ANTREAN_WEB{number}"] = address
        config = DEPLOY / "haproxy" / "haproxy.cfg"
        check = subprocess.run([binary, "-c", "-f", str(config)], env=env,
                               capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
        self.log = (self.directory / "log").open("ab")
        self.process = subprocess.Popen([binary, "-db", "-f", str(config)], env=env,
                                        stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 20
        last = "nothing"
        while time.monotonic() < deadline:
            try:
                answer = httpx.get(f"{self.url}/readyz", verify=self.tls(), timeout=2)
                if answer.status_code == 200:
                    return
                last = f"{answer.status_code} {answer.text[:200]}"
            except httpx.HTTPError as exc:
                last = repr(exc)
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"HAProxy did not serve /readyz in 20 s (last: {last})")

    def tls(self) -> ssl.SSLContext:
        """A client's TLS context that trusts this balancer's certificate."""
        return ssl.create_default_context(cafile=str(self.ca_file))

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        if self.process is not None:
            self.log.close()
