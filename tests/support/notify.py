"""Test servers for the notification tests: a real SMTP server and a fake SMS gateway.

Holds no tests; ``test_notify_*`` modules import these helpers.
"""

from __future__ import annotations

import email.policy
import json
import threading
import time
from dataclasses import replace
from email.message import EmailMessage
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from portal.notify.settings import NotifySettings
from tests.support.servers import free_port

TEST_SECRET = "notify-test-secret-" + "x" * 32


class _Handler:
    def __init__(self, recorder: SmtpRecorder) -> None:
        self.recorder = recorder

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = BytesParser(policy=email.policy.default).parsebytes(envelope.content)
        with self.recorder.lock:
            self.recorder.messages.append(message)
            self.recorder.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK queued"


class SmtpRecorder:
    """aiosmtpd on a free port, keeping every message it accepted."""

    def __init__(self) -> None:
        self.port = free_port()
        self.lock = threading.Lock()
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)

    def start(self) -> SmtpRecorder:
        """Start serving."""
        self.controller.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self.controller.stop()

    def message_ids(self) -> list[str]:
        """The Message-ID of every message received, duplicates included."""
        with self.lock:
            return [str(m["Message-ID"]) for m in self.messages]

    def wait_for(self, count: int, timeout: float) -> bool:
        """Wait until ``count`` messages arrived."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.messages) >= count:
                    return True
            time.sleep(0.05)
        return False


class SmsGateway:
    """http.server in a thread playing an SMS gateway: ``mode`` is ok, error or slow;
    ``answer`` (a JSON-able value) replaces the body it replies with."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.slow_seconds = 1.5
        self.answer: Any = None
        self.requests: list[dict[str, Any]] = []
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                gateway.requests.append({"path": self.path, "headers": dict(self.headers),
                                         "body": body})
                if gateway.mode == "slow":
                    time.sleep(gateway.slow_seconds)
                status = 500 if gateway.mode == "error" else 200
                answer = gateway.answer
                if answer is None:
                    answer = {"status": "ok" if status == 200 else "error"}
                payload = json.dumps(answer).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass  # the client gave up waiting

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/send"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> SmsGateway:
        """Start serving."""
        self.thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()

    def messages(self) -> list[dict[str, Any]]:
        """The JSON bodies received."""
        return [json.loads(r["body"]) for r in self.requests]


def sqlalchemy_url(database_url: str) -> str:
    """The fixture's URL with the psycopg 3 driver named."""
    return database_url.replace("postgresql://", "postgresql+psycopg://", 1)


def notify_settings(tmp_path: Path, database_url: str, redis_url: str,
                    **changes: Any) -> NotifySettings:
    """Settings for a test: no outbox, no retry delay, no rate limit unless asked."""
    base = NotifySettings.from_env({
        "ANTREAN_ENV": "test",
        "ANTREAN_VAR_DIR": str(tmp_path / "var"),
        "ANTREAN_SECRET_KEY": TEST_SECRET,
        "ANTREAN_OUTBOX": "false",
        "ANTREAN_PUBLIC_URL": "https://antrean.example.go.id",
        "ANTREAN_SMTP_FROM": "Antrean BKD <noreply@antrean.example.go.id>",
        "ANTREAN_NOTIFY_RETRY_INTERVALS": "0,0",
        "ANTREAN_NOTIFY_CHANNEL_RATE_PER_SECOND": "0",
    })
    return replace(base, database_url=sqlalchemy_url(database_url), redis_url=redis_url,
                   **changes)
