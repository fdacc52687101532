"""A roster NIK's whole honest path in real Chromium at phone size, and a guessed recovery code.

The portal runs as a live server beside the test; no notification worker runs with it,
so the queued messages are sent by a burst RQ worker in this process, to the development
outbox under the server's var directory, and every code is read from the file there.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlalchemy import select

from portal.admin.masking import mask_email
from portal.db import create_db_engine, session_factory
from portal.form.models import Draft, Submission
from portal.notify.settings import NotifySettings
from tests.support.browser import (
    FIRST,
    SECOND,
    expect_receipt,
    fill_form,
    phone,
    prove_in_page,
    screenshot,
    submit_form,
    take_a_number,
)
from tests.support.identity import deliver_codes, import_roster, latest_code
from tests.support.servers import LiveServer, live_env

pytestmark = pytest.mark.browser

# The agency's contacts for FIRST's NIK: not the phone and e-mail FIRST types anywhere.
ROSTER_SMS = "+6281311112222"
ROSTER_EMAIL = "dian.suryana@bkd.example.go.id"
ROSTER = f"nik,nama,telepon,email\n{FIRST['nik']},{FIRST['nama']},0813-1111-2222,{ROSTER_EMAIL}\n"
OUTBOX = {"ANTREAN_OUTBOX": "true"}
# What the person types on the first phone before moving on to the second one.
TYPED = {name: FIRST[name] for name in
         ("nik", "nama", "tempat_lahir", "tanggal_lahir", "jabatan", "telepon", "email")}
RESTORED = "Draf berhasil dipulihkan."
NOT_FOUND = "Draf tidak ditemukan. Periksa NIK dan kode pemulihan."


@dataclass
class Portal:
    """The live server, and the worker settings that deliver its messages to its outbox."""

    url: str
    database_url: str
    notify: NotifySettings
    redis: redis.Redis

    def recovery_code(self) -> str:
        """Deliver what is queued and read the draft's recovery code the roster's contacts got."""
        everything = deliver_codes(self.notify, self.redis)
        found = [d for d in everything if d.kind == "recovery"]
        assert {(d.channel, d.recipient) for d in found} == {
            ("sms", ROSTER_SMS), ("email", ROSTER_EMAIL)}, everything
        assert len({d.code for d in found}) == 1, found
        return found[0].code

    def roster_code(self) -> str:
        """Deliver the queued code and read it: one code, to the roster's contacts only."""
        delivered = deliver_codes(self.notify, self.redis)
        assert {(d.channel, d.recipient) for d in delivered} == {
            ("sms", ROSTER_SMS), ("email", ROSTER_EMAIL)}, delivered
        codes = {d.code for d in delivered}
        assert len(delivered) == 2 and len(codes) == 1, delivered  # SMS and e-mail, one code
        code = codes.pop()
        # Once sent, the code is gone from the database: the outbox was the only place.
        assert latest_code(self.database_url) != code
        return code


@pytest.fixture
def portal(live_server_factory: Callable[..., LiveServer], sqlite_url: str,
           redis_client: redis.Redis, redis_url: str, tmp_path: Path) -> Portal:
    import_roster(sqlite_url, ROSTER)
    server = live_server_factory(sqlite_url, ANTREAN_MAX_ACTIVE="3", **OUTBOX)
    notify = NotifySettings.from_env(live_env(redis_url, sqlite_url, tmp_path, **OUTBOX))
    return Portal(server.url, sqlite_url, notify, redis_client)


@pytest.fixture
def phones(browser: Browser) -> Iterator[Callable[[], Page]]:
    """New phones (fresh contexts: cookies of their own), closed at the end."""
    contexts: list[BrowserContext] = []

    def new_phone() -> Page:
        context, page, _visits = phone(browser)
        contexts.append(context)
        return page

    yield new_phone
    for context in contexts:
        context.close()


def enter(page: Page, url: str) -> None:
    take_a_number(page, url)
    page.wait_for_url("**/formulir")  # a place is free: straight in


def type_values(page: Page, values: dict[str, str]) -> None:
    for name, value in values.items():
        page.fill(f"#f-{name}", value)


def drafts_of(database_url: str, nik: str) -> list[Draft]:
    engine = create_db_engine(database_url)
    try:
        with session_factory(engine)() as session:
            return list(session.scalars(select(Draft).where(Draft.nik == nik)))
    finally:
        engine.dispose()


def saved_on_server(database_url: str, nik: str, values: dict[str, str]) -> Draft:
    """Wait until the autosave holds ``values`` in the one draft of ``nik``."""
    deadline = time.monotonic() + 10
    while True:
        found = drafts_of(database_url, nik)
        if len(found) == 1 and all(found[0].data.get(k) == v for k, v in values.items()):
            return found[0]
        assert time.monotonic() < deadline, [draft.data for draft in found]
        time.sleep(0.1)


def restore(page: Page, nik: str, code: str) -> int:
    """Restore a draft with the form's own box; the answer's status."""
    if page.locator("#restore").get_attribute("open") is None:  # open after a failure
        page.get_by_text("Pernah mengisi di perangkat lain? Pulihkan draf").click()
    page.fill("#r-nik", nik)
    page.fill("#r-kode", code)
    with page.expect_response(lambda r: r.url.endswith("/formulir/pulihkan")) as answer:
        page.get_by_role("button", name="Pulihkan draf").click()
    page.wait_for_load_state()
    return answer.value.status


def expect_values(page: Page, values: dict[str, str]) -> None:
    for name, value in values.items():
        expect(page.locator(f"#f-{name}")).to_have_value(value)


def start_a_draft(portal: Portal, page: Page) -> str:
    """Type part of the form on a phone, as far as the server; the recovery code shown."""
    type_values(page, TYPED)
    saved = saved_on_server(portal.database_url, FIRST["nik"], TYPED)
    recovery = page.locator("#recovery-code").inner_text()
    assert recovery == saved.data["_recovery"]
    return recovery


def walk_to_the_receipt(portal: Portal, phones: Callable[[], Page],
                        shots: Path | None = None) -> tuple[Page, Page, str]:
    """Prove on a first phone, type part of the form, finish on a second phone.

    The two phones and the registration number.
    """
    def shot(page: Page, name: str) -> None:
        if shots is not None:
            screenshot(page, shots, f"phone-identity-{name}.png")

    first = phones()
    enter(first, portal.url)
    # The form's box sends the NIK the form showed when it loaded (none yet), so the
    # identity page asks for it; the phone typed there is not the roster's.
    prove_in_page(first, portal.url, portal.database_url, FIRST, via_form=True,
                  read_code=portal.roster_code)
    recovery = start_a_draft(portal, first)
    shot(first, "1-draft")
    # The NIK is proved on this phone, so the code also went to the roster's contacts:
    # the person can continue elsewhere with what their own phone received.
    expect(first.locator("#recovery-sent")).to_be_visible()
    assert portal.recovery_code() == recovery

    second = phones()  # a second device: none of the first one's cookies
    enter(second, portal.url)
    expect_values(second, dict.fromkeys(TYPED, ""))
    assert restore(second, FIRST["nik"], recovery) == 200
    expect(second.get_by_role("status").filter(has_text=RESTORED)).to_be_visible()
    expect_values(second, TYPED)
    expect(second.locator("#recovery-code")).to_have_text(recovery)
    # The draft travelled, the proof did not: it belongs to the first phone's browser.
    expect(second.locator("#nik-proved")).to_have_count(0)
    shot(second, "2-restored")

    # This time the box sends the restored NIK and the contacts typed on the first phone;
    # the code goes to the roster's all the same.
    prove_in_page(second, portal.url, portal.database_url, FIRST, via_form=True,
                  read_code=portal.roster_code)
    expect_values(second, TYPED)
    fill_form(second, {name: value for name, value in FIRST.items() if name not in TYPED})
    submit_form(second)
    number = expect_receipt(second, FIRST)
    for name in ("tempat_lahir", "jabatan"):
        expect(second.locator("main")).to_contain_text(TYPED[name])
    # The receipt passes through other hands: it shows the e-mail half hidden.
    expect(second.locator("main")).to_contain_text(mask_email(TYPED["email"]) or "")
    shot(second, "3-receipt")
    return first, second, number


def test_a_roster_nik_proved_on_one_phone_is_registered_from_another(
    phones: Callable[[], Page], portal: Portal, artifacts: Path
) -> None:
    first, _second, number = walk_to_the_receipt(portal, phones, artifacts)
    engine = create_db_engine(portal.database_url)
    with session_factory(engine)() as session:
        stored = session.scalars(select(Submission)).one()
    engine.dispose()
    assert (stored.registration_number, stored.nik) == (number, FIRST["nik"])
    assert {name: stored.data[name] for name in ("nama", "tempat_lahir", "jabatan")} == {
        name: TYPED[name] for name in ("nama", "tempat_lahir", "jabatan")}
    assert drafts_of(portal.database_url, FIRST["nik"]) == []  # the submitted draft is gone

    # Back on the first phone (its own place is still open): the draft has left it.
    recovery = first.locator("#recovery-code").inner_text()
    first.reload()
    expect(first.get_by_role("heading", name="Formulir pendaftaran")).to_be_visible()
    expect_values(first, dict.fromkeys(TYPED, ""))
    expect(first.locator("#recovery-code")).not_to_have_text(recovery)


def test_the_first_phone_brings_no_registered_draft_back(
    phones: Callable[[], Page], portal: Portal
) -> None:
    first, _second, _number = walk_to_the_receipt(portal, phones)
    first.reload()  # the old page goes
    first.reload()  # and the next one sees what the server kept for this phone
    assert first.locator("#f-nik").input_value() == ""
    assert [draft.data for draft in drafts_of(portal.database_url, FIRST["nik"])] == []


def test_the_right_nik_with_a_wrong_recovery_code_hands_over_nothing(
    phones: Callable[[], Page], portal: Portal, artifacts: Path
) -> None:
    owner = phones()
    enter(owner, portal.url)
    recovery = start_a_draft(portal, owner)
    [before] = drafts_of(portal.database_url, FIRST["nik"])
    attacker = phones()
    enter(attacker, portal.url)
    own_code = attacker.locator("#recovery-code").inner_text()
    wrong = ("1" if recovery[0] != "1" else "2") + recovery[1:]  # one character off
    for nik, code in ((FIRST["nik"], wrong), (SECOND["nik"], recovery)):
        assert restore(attacker, nik, code) == 422
        expect(attacker.locator("#restore")).to_have_attribute("open", "")
        expect(attacker.locator("#restore .error")).to_have_text(NOT_FOUND)
        expect(attacker.get_by_text(RESTORED)).to_have_count(0)
        expect_values(attacker, dict.fromkeys(TYPED, ""))
        expect(attacker.locator("#recovery-code")).to_have_text(own_code)
    screenshot(attacker, artifacts, "phone-identity-wrong-recovery-code.png")
    [after] = drafts_of(portal.database_url, FIRST["nik"])
    assert (after.id, after.owner, after.data) == (before.id, before.owner, before.data)
    owner.reload()  # still the owner's, as typed
    expect_values(owner, TYPED)
    expect(owner.locator("#recovery-code")).to_have_text(recovery)
