"""Delivery channels: SMTP, an HTTP SMS gateway, and the development outbox.

Every channel takes a ``handover`` callback and calls it just before the
provider receives the last byte of the message: the byte after which the
provider accepts it (SMTP's final ``.``, an HTTP request's last byte, the
outbox file's rename). The callback commits the record as ``sent``; when it
raises, the channel drops the connection instead, and the provider discards
the incomplete message. So a crash before the callback leaves a message that
was never handed over and may be sent again, and a crash after it leaves a
message recorded as sent.
"""

from __future__ import annotations

import email.policy
import http.client
import json
import os
import re
import smtplib
import socket
import ssl
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

from portal.notify.gateway import refusal, split_credentials
from portal.notify.messages import refuse_nik
from portal.notify.settings import NotifySettings

Handover = Callable[[], None]


class DeliveryError(Exception):
    """A try that did not deliver; ``reason`` is safe to store (no personal data)."""

    def __init__(self, reason: str, *, after_handover: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.after_handover = after_handover


def _smtp_reason(stage: str, code: int) -> str:
    return f"smtp {stage} answered {code}"


class SmtpChannel:
    """E-mail over SMTP (none, STARTTLS or TLS; login optional), one connection reused."""

    transport = "smtp"

    def __init__(self, settings: NotifySettings) -> None:
        if settings.smtp_host is None:
            raise ValueError("SmtpChannel needs ANTREAN_SMTP_HOST")
        self.host = settings.smtp_host
        self.port = settings.smtp_port
        self.security = settings.smtp_security
        self.username = settings.smtp_username
        self.password = settings.smtp_password
        self.timeout = settings.smtp_timeout
        self._connection: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        context = ssl.create_default_context()
        connection: smtplib.SMTP
        if self.security == "tls":
            connection = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout,
                                          context=context)
        else:
            connection = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        _no_delay(connection.sock)
        connection.ehlo_or_helo_if_needed()
        if self.security == "starttls":
            connection.starttls(context=context)
            connection.ehlo()
        if self.username:
            connection.login(self.username, str(self.password or ""))
        return connection

    def close(self) -> None:
        """Close the kept connection, if any."""
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.quit()
            except (smtplib.SMTPException, OSError):
                connection.close()

    def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()  # mid-DATA: the server discards the unfinished message

    def send(self, message: EmailMessage, sender: str, recipient: str,
             handover: Handover) -> None:
        """Send one message; raise DeliveryError when it was not accepted."""
        data = message.as_bytes(policy=email.policy.SMTP)
        try:
            try:
                self._envelope(sender, recipient, fresh=False)
            except smtplib.SMTPServerDisconnected:
                # The kept connection went stale between messages; nothing was sent yet.
                self._drop()
                self._envelope(sender, recipient, fresh=True)
        except DeliveryError:
            self._drop()
            raise
        except (smtplib.SMTPException, OSError) as exc:
            self._drop()
            raise DeliveryError(f"smtp connection: {type(exc).__name__}") from None
        assert self._connection is not None
        connection = self._connection
        try:
            connection.send(_dot_stuffed(data))
            handover()
        except BaseException:
            self._drop()
            raise
        try:
            connection.send(b".\r\n")
            code, _reply = connection.getreply()
        except (smtplib.SMTPException, OSError) as exc:
            self._drop()
            raise DeliveryError(f"smtp end of data: {type(exc).__name__}",
                                after_handover=True) from None
        if code != 250:
            self._drop()
            raise DeliveryError(_smtp_reason("end of data", code), after_handover=True)

    def _envelope(self, sender: str, recipient: str, *, fresh: bool) -> None:
        if self._connection is None or fresh:
            try:
                self._connection = self._connect()
            except smtplib.SMTPAuthenticationError as exc:
                raise DeliveryError(_smtp_reason("login", exc.smtp_code)) from None
        connection = self._connection
        code, _ = connection.mail(sender)
        if code != 250:
            connection.rset()
            raise DeliveryError(_smtp_reason("MAIL", code))
        code, _ = connection.rcpt(recipient)
        if code not in (250, 251):
            connection.rset()
            raise DeliveryError(_smtp_reason("RCPT", code))
        code, _ = connection.docmd("DATA")
        if code != 354:
            raise DeliveryError(_smtp_reason("DATA", code))


def _no_delay(sock: socket.socket | None) -> None:
    # The message goes out in two writes (body, then the last byte after the commit);
    # with Nagle's algorithm the second waits for the peer's delayed ACK, ~40 ms each.
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _dot_stuffed(data: bytes) -> bytes:
    """CRLF line ends, leading dots doubled, ending in CRLF (the final ``.`` comes later)."""
    data = re.sub(rb"(?:\r\n|\n|\r(?!\n))", b"\r\n", data)
    data = re.sub(rb"(?m)^\.", b"..", data)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data


@dataclass(frozen=True)
class SmsRequest:
    """The HTTP request that asks the gateway to send one SMS."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes


def build_sms_request(settings: NotifySettings, to: str, text: str,
                      reference: str) -> SmsRequest:
    """Fill the gateway's URL and body templates ({to}, {message}, {reference})."""
    if settings.sms_url is None:
        raise ValueError("the SMS gateway needs ANTREAN_SMS_URL")
    values = {"{to}": to, "{message}": text, "{reference}": reference}

    def fill(template: str, escape: Callable[[str], str]) -> str:
        for placeholder, value in values.items():
            template = template.replace(placeholder, escape(value))
        return template

    # User-info never stays in the URL (nor, from there, in the Host header).
    url, basic = split_credentials(fill(settings.sms_url, lambda v: urllib.parse.quote(v, safe="")))
    headers: dict[str, str] = {}
    if settings.sms_basic_auth is not None or basic is not None:
        headers["Authorization"] = str(settings.sms_basic_auth or basic)
    body = b""
    if settings.sms_content_type == "json":
        filled = fill(settings.sms_body_template, lambda v: json.dumps(v)[1:-1])
        content_type = "application/json"
    else:
        filled = fill(settings.sms_body_template, lambda v: urllib.parse.quote_plus(v))
        content_type = "application/x-www-form-urlencoded"
    if settings.sms_method == "GET":
        if filled:
            url += ("&" if "?" in url else "?") + filled
    else:
        body = filled.encode()
        headers["Content-Type"] = content_type
    if settings.sms_auth_header is not None:
        name, _, value = str(settings.sms_auth_header).partition(":")
        headers[name.strip()] = value.strip()
    return SmsRequest(settings.sms_method, url, headers, body)


class SmsGatewayChannel:
    """SMS through an HTTP gateway; an answer outside the success rule (by default any
    non-2xx), a timeout or no answer is a failure."""

    transport = "http"

    def __init__(self, settings: NotifySettings) -> None:
        self.settings = settings
        self.timeout = settings.sms_timeout

    def send(self, to: str, text: str, reference: str, handover: Handover) -> None:
        """Send one SMS; raise DeliveryError when the gateway did not take it."""
        refuse_nik(text)  # the last gate before a NIK could leave the building
        request = build_sms_request(self.settings, to, text, reference)
        parts = urllib.parse.urlsplit(request.url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        host = parts.hostname or ""
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        head = [f"{request.method} {target} HTTP/1.1", f"Host: {parts.netloc}",
                "User-Agent: antrean-notify", "Connection: close",
                f"Content-Length: {len(request.body)}"]
        head += [f"{name}: {value}" for name, value in request.headers.items()]
        raw = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + request.body
        try:
            sock = socket.create_connection((host, port), timeout=self.timeout)
        except OSError as exc:
            raise DeliveryError(f"sms gateway unreachable: {type(exc).__name__}") from None
        try:
            _no_delay(sock)
            if parts.scheme == "https":
                sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
            # The gateway acts on a request only once its last byte arrives.
            sock.sendall(raw[:-1])
            handover()
            sock.sendall(raw[-1:])
            response = http.client.HTTPResponse(sock, method=request.method)
            try:
                response.begin()
                answer = response.read(65536)
            finally:
                response.close()
        except TimeoutError:
            raise DeliveryError("sms gateway timed out", after_handover=True) from None
        except (OSError, http.client.HTTPException) as exc:
            raise DeliveryError(f"sms gateway: {type(exc).__name__}",
                                after_handover=True) from None
        finally:
            sock.close()
        reason = refusal(self.settings.sms_success, response.status, answer)
        if reason is not None:
            raise DeliveryError(reason, after_handover=True)


@dataclass(frozen=True)
class OutboxEntry:
    """One message in the development outbox."""

    name: str
    channel: str
    created: datetime
    subject: str
    recipient: str
    path: Path


class OutboxChannel:
    """Development outbox: one ``.eml`` (e-mail) or ``.txt`` (SMS) file per message."""

    transport = "outbox"

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _write(self, name: str, data: bytes, handover: Handover) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        final = self.directory / name
        partial = self.directory / f".{name}.part"
        with open(partial, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        handover()
        os.replace(partial, final)  # the rename is the hand-over: all or nothing

    def send_email(self, message: EmailMessage, notification_id: int,
                   handover: Handover) -> None:
        """Write the e-mail as it would have gone over SMTP."""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        self._write(f"{stamp}-{notification_id:08d}-email.eml",
                    message.as_bytes(policy=email.policy.SMTP), handover)

    def send_sms(self, to: str, text: str, notification_id: int, handover: Handover) -> None:
        """Write the SMS as a small text file."""
        refuse_nik(text)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        self._write(f"{stamp}-{notification_id:08d}-sms.txt",
                    f"To: {to}\n\n{text}\n".encode(), handover)


def list_outbox(directory: Path, limit: int = 200) -> list[OutboxEntry]:
    """The newest messages in the outbox, for the admin console."""
    if not directory.is_dir():
        return []
    files = sorted((p for p in directory.iterdir()
                    if p.suffix in (".eml", ".txt") and not p.name.startswith(".")),
                   key=lambda p: p.name, reverse=True)[:limit]
    entries = []
    for path in files:
        created = datetime.fromtimestamp(path.stat().st_mtime, UTC)
        if path.suffix == ".eml":
            with open(path, "rb") as handle:
                headers = BytesParser(policy=email.policy.default).parse(handle, headersonly=True)
            entries.append(OutboxEntry(path.name, "email", created, str(headers["Subject"] or ""),
                                       str(headers["To"] or ""), path))
        else:
            head, _, text = path.read_text().partition("\n\n")
            entries.append(OutboxEntry(path.name, "sms", created, text.strip()[:60],
                                       head.removeprefix("To: ").strip(), path))
    return entries
