"""Visitors as separate processes drive them: prove a NIK, queue, fill the form, upload, submit.

Each visitor is one browser (one cookie jar) on its own source address
(127.0.0.x), through the balancer over TLS. Where a request fails the way a
lost machine or a moving Redis makes it fail, the visitor does what a person
does: waits a moment and taps again. Every such failure is written down with
its time, so the test can tell requests in flight at a fault from anything else.
"""

from __future__ import annotations

import asyncio
import random
import re
import ssl
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support.deployment import read_mail_codes
from tests.support.form import FILES, VALID, csrf, hidden

POLL_CAP_SECONDS = 0.5
GIVE_UP_SECONDS = 150.0


def nik_of(serial: int) -> str:
    """A valid NIK (born 8 November 1985, a woman, as ``VALID``), one per serial 1..9999."""
    assert 0 < serial < 10000
    return f"360128481185{serial:04d}"


@dataclass
class Visit:
    """What one visitor saw."""

    serial: int
    address: str
    failures: list[tuple[float, str]] = field(default_factory=list)  # (time, what)
    unavailable: list[tuple[float, str]] = field(default_factory=list)  # 503 + Retry-After
    number: int | None = None
    lost: int = 0  # places the room no longer knew (joined again)
    lost_how: list[str] = field(default_factory=list)  # the step and answer of each loss
    entered_at: float | None = None
    leaving_at: float | None = None
    registration: str | None = None
    error: str | None = None


class Tapper:
    """Sends one request until it gets an answer that is not a fault, noting each fault."""

    def __init__(self, client: httpx.AsyncClient, visit: Visit) -> None:
        self.client, self.visit = client, visit

    async def __call__(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        deadline = time.monotonic() + GIVE_UP_SECONDS
        while True:
            try:
                response = await self.client.request(method, url, **kwargs)
            except httpx.TransportError as exc:
                self.visit.failures.append((time.time(), f"{method} {url}: {type(exc).__name__}"))
            else:
                if response.status_code == 503 and "retry-after" in response.headers:
                    self.visit.unavailable.append((time.time(), f"{method} {url}"))
                    wait = min(float(response.headers["retry-after"]), 1.0)
                    await asyncio.sleep(wait)
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"{method} {url}: 503 for {GIVE_UP_SECONDS} s")
                    continue
                if response.status_code not in (502, 503, 504):
                    return response
                self.visit.failures.append((time.time(), f"{method} {url}: "
                                            f"{response.status_code}"))
            if time.monotonic() > deadline:
                raise RuntimeError(f"{method} {url}: no answer for {GIVE_UP_SECONDS} s")
            await asyncio.sleep(0.3)  # a person taps again


async def _code(mail_dir: Path, email: str, seen: int, seconds: float) -> str | None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        codes = read_mail_codes(mail_dir, email)
        if len(codes) > seen:
            return codes[-1]
        await asyncio.sleep(0.3)
    return None


async def _prove(tap: Tapper, mail_dir: Path, nik: str, email: str) -> None:
    """Ask for a code, read it from the mailbox, type it; ask again when none comes."""
    for _ in range(3):  # three codes an hour for one NIK
        seen = len(read_mail_codes(mail_dir, email))
        sent = await tap("POST", "/api/v1/identity/code", json={"nik": nik, "email": email})
        assert sent.status_code == 202, sent.text
        code = await _code(mail_dir, email, seen, 25)
        if code is None:
            continue  # a person waits a while, then asks for another code
        proved = await tap("POST", "/api/v1/identity/verify", json={"nik": nik, "code": code})
        if proved.status_code == 200:
            return
    raise AssertionError("no code proved the NIK")


async def _place_and_form(tap: Tapper, visit: Visit) -> str | None:
    """Queue, get in and open the form; None when the room lost the place on the way."""
    joined = await tap("POST", "/api/v1/queue/join")
    assert joined.status_code in (200, 201), joined.text
    body = joined.json()
    token = body["token"]
    visit.number = int(token.split(".")[1])
    while body["state"] != "admitted":
        if body["state"] != "waiting":
            visit.lost_how.append(f"poll: state {body['state']}")
            return None
        await asyncio.sleep(min(body["poll_after_ms"] / 1000, POLL_CAP_SECONDS))
        polled = await tap("GET", f"/api/v1/queue/{token}")
        assert polled.status_code == 200, polled.text
        body = polled.json()
    entered = await tap("POST", f"/api/v1/queue/{token}/enter")
    if entered.status_code != 200:
        visit.lost_how.append(f"enter: {entered.status_code} {entered.text[:80]}")
        return None
    visit.entered_at = time.time()
    form = await tap("GET", "/formulir")
    if form.status_code != 200 or 'action="/formulir"' not in form.text:
        visit.lost_how.append(f"form: {form.status_code}")
        return None
    return form.text


async def visit(base: str, ca_file: str, mail_dir: Path, visit: Visit) -> Visit:
    """One visitor from the landing page to the receipt."""
    email = f"honorer{visit.serial}@example.go.id"
    nik = nik_of(visit.serial)
    tls = ssl.create_default_context(cafile=ca_file)
    transport = httpx.AsyncHTTPTransport(local_address=visit.address, verify=tls)
    async with httpx.AsyncClient(base_url=base, transport=transport, timeout=30) as client:
        tap = Tapper(client, visit)
        try:
            assert (await tap("GET", "/")).status_code == 200
            await _prove(tap, mail_dir, nik, email)
            name = f"Honorer Nomor {visit.serial}"
            for _ in range(3):
                page = await _place_and_form(tap, visit)
                if page is None:
                    visit.lost += 1  # the room forgot the place: join again, as a person would
                    continue
                token = csrf(page)
                saved = await tap("POST", "/formulir/draf", data={"csrf_token": token,
                                                                   "nama": name})
                assert saved.status_code == 200, saved.text
                await asyncio.sleep(random.uniform(0.2, 1.0))  # typing
                values = {**VALID, "nik": nik, "nama": name, "email": email,
                          "telepon": f"0812{visit.serial:08d}", "csrf_token": token,
                          "submit_key": hidden(page, "submit_key")}
                visit.leaving_at = time.time()
                done = await tap("POST", "/formulir", data=values, files=FILES,
                                 follow_redirects=True)
                if done.status_code == 200 and "Pendaftaran berhasil" in done.text:
                    break
                visit.lost += 1  # the session was gone when the form came in
                visit.lost_how.append(f"submit: {done.status_code} {done.url.path}")
            else:
                raise AssertionError(f"the place was lost three times: {visit.lost_how}")
            number = re.search(r'id="registration-number">([^<]+)<', done.text)
            assert number, "no registration number on the receipt"
            visit.registration = number.group(1)
        except Exception as exc:  # the test reports every visitor that did not finish
            visit.error = f"{type(exc).__name__}: {str(exc)[:300]}"
    return visit


async def _crowd(base: str, ca_file: str, mail_dir: str, serials: list[int],
                 spread_seconds: float, start_at: float) -> list[Visit]:
    await asyncio.sleep(max(0.0, start_at - time.time()))
    rng = random.Random(serials[0])

    async def one(serial: int) -> Visit:
        await asyncio.sleep(rng.uniform(0, spread_seconds))
        address = f"127.0.{serial // 250}.{serial % 250 + 2}"
        return await visit(base, ca_file, Path(mail_dir), Visit(serial, address))

    return list(await asyncio.gather(*(one(serial) for serial in serials)))


def run_crowd(base: str, ca_file: str, mail_dir: str, serials: list[int],
              spread_seconds: float, start_at: float) -> list[dict[str, Any]]:
    """Entry point of a load process: these visitors, arriving over ``spread_seconds``."""
    visits = asyncio.run(_crowd(base, ca_file, mail_dir, serials, spread_seconds, start_at))
    return [asdict(v) for v in visits]
