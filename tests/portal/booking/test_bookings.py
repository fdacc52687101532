"""The slots/bookings JSON API and the visitor's booking pages, on both databases."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import replace
from typing import Any

from icalendar import Calendar, Component
from starlette.testclient import TestClient

from portal.app import create_app
from portal.db import create_db_engine, session_factory
from scheduler.store import regenerate_slots, save_calendar
from tests.support.booking import NIK, OTHER_NIK, RULE, person
from tests.support.ics import ics_datetime
from tests.support.identity import ensure_proved, latest_code

CODE_FORMAT = re.compile(r"^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$")


def book(client: TestClient, slot_id: int, **changes: Any) -> Any:
    body = person(**changes)
    ensure_proved(client, body["nik"], phone=body["phone"])
    return client.post("/api/v1/bookings", json={**body, "slot_id": slot_id})


def test_slots_lists_the_window_and_refuses_bad_dates(app, slots) -> None:
    with TestClient(app) as client:
        body = client.get("/api/v1/slots").json()
        assert [slot["id"] for slot in body["slots"]] == [slot["id"] for slot in slots]
        first = body["slots"][0]
        assert first["start"].endswith("T08:00:00+07:00")
        assert first["end"].endswith("T08:30:00+07:00")
        assert (first["capacity"], first["booked"], first["free"]) == (1, 0, 1)
        day = slots[4]["day"]
        one_day = client.get(f"/api/v1/slots?from={day}&to={day}").json()["slots"]
        assert [slot["day"] for slot in one_day] == [day] * 4
        bad = client.get("/api/v1/slots?from=2025-13-01&to=kemarin")
        assert bad.status_code == 422
        assert set(bad.json()["error"]["fields"]) == {"from", "to"}
        # Valid days in either order are a range; one that ends first holds nothing.
        backwards = client.get(f"/api/v1/slots?from={day}&to={slots[0]['day']}")
        assert backwards.status_code == 200 and backwards.json() == {"slots": []}
        wide = client.get("/api/v1/slots?from=0001-01-01&to=9999-12-31")
        assert wide.status_code == 200 and wide.json() == body


def test_book_look_up_reschedule_cancel(app, slots) -> None:
    with TestClient(app) as client:
        created = book(client, slots[0]["id"])
        assert created.status_code == 201, created.text
        body = created.json()
        code = body["code"]
        assert CODE_FORMAT.match(code)
        assert body["slot"]["id"] == slots[0]["id"] and body["slot"]["booked"] == 1
        assert body["ics_url"] == f"http://127.0.0.1:8000/api/v1/bookings/{code}.ics"
        assert NIK not in created.text and "dian@example.id" not in created.text

        ics = client.get(body["ics_url"])
        assert ics.status_code == 200 and ics.headers["content-type"].startswith("text/calendar")
        [event] = Calendar.from_ical(ics.content).walk("VEVENT")
        assert ics_datetime(event, "dtstart").isoformat() == body["slot"]["start"]

        headers = {"X-Antrean-NIK": NIK}
        looked_up = client.get(f"/api/v1/bookings/{code.lower()}", headers=headers)
        assert looked_up.status_code == 200 and looked_up.json()["code"] == code
        assert client.get(f"/api/v1/bookings/{code}").status_code == 422  # no NIK given
        wrong = client.get(f"/api/v1/bookings/{code}", headers={"X-Antrean-NIK": OTHER_NIK})
        assert wrong.status_code == 404 and wrong.json()["error"]["code"] == "not_found"
        assert client.get("/api/v1/bookings/ZZZZ-ZZZZ", headers=headers).status_code == 404
        assert client.get("/api/v1/bookings/bukan-kode", headers=headers).status_code == 404

        moved = client.post(f"/api/v1/bookings/{code}/reschedule",
                            json={"nik": NIK, "slot_id": slots[5]["id"]})
        assert moved.status_code == 200 and moved.json()["slot"]["id"] == slots[5]["id"]
        assert moved.json()["code"] == code

        cancelled = client.request("DELETE", f"/api/v1/bookings/{code}", headers=headers)
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
        again = client.request("DELETE", f"/api/v1/bookings/{code}", json={"nik": NIK})
        assert again.status_code == 404
        gone = Calendar.from_ical(client.get(f"/api/v1/bookings/{code}.ics").content)
        assert gone["method"] == "CANCEL"
        listed = client.get("/api/v1/slots").json()["slots"]
        assert sum(slot["booked"] for slot in listed) == 0



PUBLIC_URL = "https://antrean.example.go.id"
FORGED_HOST = "evil.example"


def downloaded(client: TestClient, code: str) -> tuple[Calendar, Component]:
    """The booking's .ics as the link serves it, parsed back, with its one event."""
    answer = client.get(f"/api/v1/bookings/{code}.ics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/calendar")
    calendar = Calendar.from_ical(answer.content)
    [event] = calendar.walk("VEVENT")
    return calendar, event


def test_the_downloaded_ics_counts_every_change_and_ends_cancelled(app, slots) -> None:
    with TestClient(app) as client:
        code = book(client, slots[0]["id"]).json()["code"]
        calendar, made = downloaded(client, code)
        assert (calendar["method"], made["sequence"], made["status"]) == ("PUBLISH", 0,
                                                                           "CONFIRMED")
        assert "attendee" not in made and "mailto:" in str(made["organizer"])
        assert made.walk("VALARM")
        uid = str(made["uid"])

        # Moving to the slot it already holds changes nothing, so the number stays.
        client.post(f"/api/v1/bookings/{code}/reschedule", json={"nik": NIK,
                                                                 "slot_id": slots[0]["id"]})
        assert downloaded(client, code)[1]["sequence"] == 0
        moved = client.post(f"/api/v1/bookings/{code}/reschedule",
                            json={"nik": NIK, "slot_id": slots[5]["id"]})
        _, after_move = downloaded(client, code)
        assert (str(after_move["uid"]), after_move["sequence"]) == (uid, 1)
        assert ics_datetime(after_move, "dtstart").isoformat() == moved.json()["slot"]["start"]
        assert ics_datetime(after_move, "dtstamp") >= ics_datetime(made, "dtstamp")
        assert "last-modified" in after_move

        client.request("DELETE", f"/api/v1/bookings/{code}", json={"nik": NIK})
        calendar, cancelled = downloaded(client, code)
        assert calendar["method"] == "CANCEL"
        assert (str(cancelled["uid"]), cancelled["sequence"], cancelled["status"]) == (
            uid, 2, "CANCELLED")
        assert not cancelled.walk("VALARM")
        assert client.get("/api/v1/bookings/ZZZZ-ZZZZ.ics").status_code == 404


def test_a_forged_host_header_appears_nowhere_in_what_the_portal_answers(settings,
                                                                         slots) -> None:
    public = create_app(replace(settings, notify_options=replace(settings.notify_options,
                                                                 public_url=PUBLIC_URL)))
    with TestClient(public, base_url=f"http://{FORGED_HOST}") as client:
        created = book(client, slots[0]["id"])
        code = created.json()["code"]
        answers = [
            created,
            client.get(f"/api/v1/bookings/{code}", headers={"X-Antrean-NIK": NIK}),
            client.post(f"/api/v1/bookings/{code}/reschedule",
                        json={"nik": NIK, "slot_id": slots[1]["id"]}),
            client.get(f"/api/v1/bookings/{code}.ics"),
            client.get("/"),
            client.get("/booking"),
            client.get("/booking/cek"),
            # Starlette's trailing-slash redirect would name the Host it was given.
            client.get("/booking/", follow_redirects=False),
            client.get("/api/v1/slots"),
            client.get("/openapi.json"),
        ]
        answers.append(client.request("DELETE", f"/api/v1/bookings/{code}", json={"nik": NIK}))
        answers.append(client.get(f"/api/v1/bookings/{code}.ics"))
    assert answers[0].json()["ics_url"] == f"{PUBLIC_URL}/api/v1/bookings/{code}.ics"
    assert answers[7].status_code == 307 and answers[7].headers["location"] == "/booking"
    for answer in answers:
        assert answer.status_code < 500, answer.request.url
        assert FORGED_HOST not in answer.text, answer.request.url
        assert all(FORGED_HOST not in value for value in answer.headers.values())
    for ics in (answers[3], answers[-1]):
        [event] = Calendar.from_ical(ics.content).walk("VEVENT")
        assert str(event["url"]) == f"{PUBLIC_URL}/booking/cek"
        assert PUBLIC_URL in str(event["description"])

def test_booking_conflicts_and_field_errors(app, slots) -> None:
    with TestClient(app) as client:
        assert book(client, slots[0]["id"]).status_code == 201
        twice = book(client, slots[1]["id"])
        assert twice.status_code == 409 and twice.json()["error"]["code"] == "already_booked"
        full = book(client, slots[0]["id"], nik=OTHER_NIK)
        assert full.status_code == 409 and full.json()["error"]["code"] == "slot_full"
        missing = client.post("/api/v1/bookings", json={"slot_id": 99999999})
        assert missing.status_code == 422
        invalid = client.post("/api/v1/bookings", json={
            "nik": "12345", "name": " ", "phone": "0000", "email": "bukan-email"})
        assert invalid.status_code == 422
        assert set(invalid.json()["error"]["fields"]) == {"nik", "name", "phone", "email",
                                                          "slot_id"}
        unknown = book(client, 99999999, nik=OTHER_NIK)
        assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "slot_not_found"
        bad_prefs = client.post("/api/v1/bookings",
                                json={**person(nik=OTHER_NIK), "preferences": {"hours": "x"}})
        assert bad_prefs.status_code == 422 and "preferences" in bad_prefs.json()["error"]["fields"]


def test_booking_by_preference(app, slots) -> None:
    with TestClient(app) as client:
        ensure_proved(client, NIK, phone=person()["phone"])
        created = client.post("/api/v1/bookings", json={
            **person(), "preferences": {"hours": [9, 10], "dates": [slots[8]["day"]]}})
        assert created.status_code == 201, created.text
        assert created.json()["slot"]["start"].endswith("T09:00:00+07:00")
        assert created.json()["slot"]["day"] == slots[8]["day"]
        ensure_proved(client, OTHER_NIK, phone=person()["phone"])
        none = client.post("/api/v1/bookings", json={
            **person(nik=OTHER_NIK), "preferences": {"time_of_day": "malam"}})
        assert none.status_code == 409 and none.json()["error"]["code"] == "no_matching_slot"


def csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


def test_visitor_books_checks_and_cancels_on_the_pages(app, slots) -> None:
    with TestClient(app) as client:
        page = client.get("/booking")
        assert page.status_code == 200 and "Pesan jadwal" in page.text
        assert f'value="{slots[0]["id"]}"' in page.text
        token = csrf(page.text)
        refused = client.post("/booking", data={**person(), "slot_id": slots[0]["id"]})
        assert refused.status_code == 403
        invalid = client.post("/booking", data={"csrf_token": token, "nik": "1", "name": "",
                                                "phone": "", "email": ""})
        assert invalid.status_code == 422 and "NIK" in invalid.text
        unproved = client.post("/booking", data={**person(), "slot_id": slots[0]["id"],
                                                 "csrf_token": token})
        assert unproved.status_code == 403 and 'href="/identitas?lanjut=/booking"' in unproved.text
        # The identity pages, as a person walks them: NIK (and a contact, not on the roster)
        ask = client.get("/identitas?lanjut=/booking")
        sent = client.post("/identitas/kode", data={
            "csrf_token": csrf(ask.text), "nik": "3601 2848 1185 5133",
            "phone": person()["phone"], "next": "/booking"})
        assert sent.status_code == 202 and "Jika NIK ini terdaftar" in sent.text
        wrong_code = client.post("/identitas/verifikasi", data={
            "csrf_token": csrf(sent.text), "nik": NIK, "code": "000000", "next": "/booking"})
        assert wrong_code.status_code == 422 and "Kode salah" in wrong_code.text
        code_sent = latest_code(app.state.portal.settings.database_url)
        assert code_sent is not None
        proved = client.post("/identitas/verifikasi", data={
            "csrf_token": csrf(sent.text), "nik": NIK, "code": code_sent, "next": "/booking"},
            follow_redirects=False)
        assert proved.status_code == 303 and proved.headers["location"] == "/booking"
        done = client.post("/booking", data={**person(), "slot_id": slots[0]["id"],
                                             "csrf_token": token})
        assert done.status_code == 201, done.text
        code = re.search(r'id="booking-code">([^<]+)<', done.text)
        assert code and CODE_FORMAT.match(code.group(1))
        assert "08.00" in done.text and "WIB" in done.text

        check = client.get("/booking/cek")
        assert check.status_code == 200
        wrong = client.post("/booking/cek", data={"csrf_token": token, "code": code.group(1),
                                                  "nik": OTHER_NIK})
        assert wrong.status_code == 404
        shown = client.post("/booking/cek", data={"csrf_token": token, "nik": NIK,
                                                  "code": code.group(1).lower()})
        assert shown.status_code == 200 and 'id="status">Aktif' in shown.text
        asked = client.post("/booking/cek", data={"csrf_token": token, "nik": NIK,
                                                  "code": code.group(1), "action": "batal"})
        # Cancelling asks first; the booking stands until it is confirmed.
        assert asked.status_code == 200 and 'id="confirm-cancel"' in asked.text
        assert 'id="status">Aktif' in asked.text
        cancelled = client.post("/booking/cek", data={"csrf_token": token, "nik": NIK,
                                                      "code": code.group(1), "action": "batal-ya"})
        assert cancelled.status_code == 200 and "Dibatalkan" in cancelled.text


def test_booking_code_guesses_are_limited(app, slots) -> None:
    with TestClient(app) as client:
        code = book(client, slots[0]["id"]).json()["code"]
        headers = {"X-Antrean-NIK": NIK}
        guesses = [client.get(f"/api/v1/bookings/{code}", headers={"X-Antrean-NIK": OTHER_NIK})
                   .status_code for _ in range(20)]
        late = client.get(f"/api/v1/bookings/{code}", headers=headers)
    assert guesses == [404] * 20
    assert late.status_code == 429 and late.headers["Retry-After"] == "900"


def test_a_proved_person_gets_a_lost_booking_code_again(app, slots) -> None:
    settings = app.state.portal.settings
    with TestClient(app) as phone:
        code = book(phone, slots[0]["id"]).json()["code"]
    with TestClient(create_app(settings)) as laptop:
        page = laptop.get("/booking/cek")
        stranger = laptop.post("/booking/cek", data={"csrf_token": csrf(page.text), "nik": NIK,
                                                    "code": "", "action": "lihat"})
        assert stranger.status_code == 422 and code not in stranger.text
        # The same person on another device proves the NIK again, then needs no code.
        # (The first code request went to this phone: the NIK is bound to it now.)
        ensure_proved(laptop, NIK, phone=person()["phone"])
        found = laptop.post("/booking/cek", data={"csrf_token": csrf(page.text), "nik": NIK,
                                                 "code": "", "action": "lihat"})
    assert found.status_code == 200
    assert f'id="booking-code">{code}<' in found.text


def test_the_booking_page_lets_a_person_pick_a_day(app, slots) -> None:
    with TestClient(app) as client:
        page = client.get("/booking").text
        days = re.findall(r'href="/booking\?hari=([0-9-]+)"', page)
        assert len(days) == 3  # the three days of the window, each with free places
        second = client.get(f"/booking?hari={days[1]}").text
        english = client.get(f"/booking?hari={days[1]}&lang=en").text
        nonsense = client.get("/booking?hari=kemarin")
    offered = {int(n) for n in re.findall(r'name="slot_id" value="(\d+)"', second)}
    assert offered == {slot["id"] for slot in slots if slot["day"] == days[1]}
    assert 'aria-current="date"' in second
    assert nonsense.status_code == 200 and 'aria-current' not in nonsense.text
    # English: day and month names, parts of the day; the clock keeps its zone label.
    assert "Senin" not in english and "Selasa" not in english and "Rabu" not in english
    assert "WIB" in english and ">Morning<" in english and ">Pagi<" not in english


def test_the_page_offers_day_slots_yet_a_night_slot_can_be_booked(app) -> None:
    settings = app.state.portal.settings
    zone = settings.tz
    engine = create_db_engine(settings.database_url)
    now = dt.datetime.now(dt.UTC)
    first = dt.datetime.combine(now.astimezone(zone).date() + dt.timedelta(days=1),
                                dt.time(0), tzinfo=zone)
    with session_factory(engine)() as session, session.begin():
        # Open around the clock, as a new calendar is; assignment hours 07:00-21:00.
        save_calendar(session, settings.room, window_start=first,
                      window_end=first + dt.timedelta(days=2), capacity=RULE)
        regenerate_slots(session, settings.room, now)
    engine.dispose()
    with TestClient(app) as client:
        page = client.get("/booking").text
        listed = client.get("/api/v1/slots").json()["slots"]
        three = next(slot for slot in listed if "T03:00:00" in slot["start"])
        # Picking the day shows every free slot of it, the night ones too.
        day_page = client.get(f"/booking?hari={three['day']}").text
        booked = book(client, three["id"])
    offered = re.findall(r"\d{2}\.\d{2}\u2013\d{2}\.\d{2}", page)
    assert offered and all("07.00" <= label[:5] and label[6:] <= "21.00" for label in offered)
    assert f'name="slot_id" value="{three["id"]}"' in day_page
    assert booked.status_code == 201, booked.text
    assert booked.json()["slot"]["start"] == three["start"]
