"""The OpenAPI description of the public JSON API (v1), served at /openapi.json."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from scheduler.nik import nik_pattern
from scheduler.roster import EMAIL_PATTERN, MOBILE_PHONE_PATTERN
from waitroom.config import BOUNDS, RoomConfig


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    names = {400: "Unreadable body", 401: "No valid token or session",
             403: "Not yours (or the NIK not yet proved)",
             404: "Not found", 409: "Conflict with the current state", 410: "Gone",
             413: "Body too large", 422: "Invalid fields", 429: "Too many requests",
             503: "Redis or the database is unavailable (see Retry-After)"}
    return {str(status): _json(_ref("Error"), names[status]) for status in statuses}


def settings_properties() -> dict[str, Any]:
    """The live settings with the ranges RoomConfig enforces (one source for both)."""
    properties: dict[str, Any] = {}
    for name, default in vars(RoomConfig()).items():
        if isinstance(default, bool):
            properties[name] = {"type": "boolean"}
            continue
        bound = BOUNDS[name]
        kind = "integer" if isinstance(default, int) else "number"
        low, high = (int(bound.low), int(bound.high)) if kind == "integer" else (
            bound.low, bound.high)
        properties[name] = {"type": kind, "minimum": low, "maximum": high}
    properties["idle_timeout_seconds"]["description"] = "At most session_ttl_seconds"
    properties["closes_at"]["description"] = "Epoch seconds after opens_at; 0: never closes"
    properties["opens_at"]["description"] = "Epoch seconds; 0: open now"
    return properties


TOKEN = {"name": "token", "in": "path", "required": True,
         "schema": {"type": "string", "maxLength": 512}}
CODE = {"name": "code", "in": "path", "required": True,
        "schema": {"type": "string", "maxLength": 20}}
NIK = {"type": "string", "pattern": nik_pattern(),
       "description": "16 digits (spaces, dots or hyphens between them are ignored): a known "
                      "province code first, then a birth date that exists (day + 40 for women)"}
PHONE = {"type": "string", "pattern": MOBILE_PHONE_PATTERN,
         "description": "An Indonesian mobile number: +62 or 0, then 8..."}
EMAIL = {"type": "string", "format": "email", "maxLength": 254, "pattern": EMAIL_PATTERN,
         "description": "Not in a special-use domain (.test, .local, .invalid, ...)"}
NAME = {"type": "string", "pattern": "\\S"}
EMPTY = {"type": "string", "const": ""}
OWNER_NIK = {"name": "X-Antrean-NIK", "in": "header", "required": True,
             "description": "The NIK the booking belongs to (never in the URL)",
             "schema": NIK}
NIK_BODY: dict[str, Any] = {
    "type": "object", "properties": {"nik": NIK}, "required": ["nik"],
}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object", "required": ["error"],
        "properties": {"error": {
            "type": "object", "required": ["code", "message", "fields"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                           "fields": {"type": "object",
                                      "additionalProperties": {"type": "string"}},
                           "challenge": _ref("Challenge")}}},
    },
    "Challenge": {
        "type": "object",
        "description": "With code proof_required (429): the address is past its join "
                       "bucket. Find a nonce of decimal digits such that SHA-256 of the "
                       "challenge followed by the nonce starts with `bits` zero bits, and "
                       "join again with the same browser cookie and "
                       '`{"proof": {"challenge", "nonce"}}`; or wait Retry-After seconds.',
        "required": ["algorithm", "challenge", "bits", "expires_in_seconds"],
        "properties": {"algorithm": {"const": "sha256-leading-zero-bits"},
                       "challenge": {"type": "string"},
                       "bits": {"type": "integer", "minimum": 1, "maximum": 256},
                       "expires_in_seconds": {"type": "integer", "minimum": 0},
                       "submit_as": {"type": "object"}},
    },
    "Place": {
        "type": "object",
        "required": ["state", "position", "eta_seconds", "poll_after_ms"],
        "properties": {
            "state": {"enum": ["waiting", "admitted", "active", "expired", "finished", "left"]},
            "position": {"type": ["integer", "null"], "minimum": 0,
                         "description": "1 = next; 0 once admitted; null until the "
                                        "pre-queue order is drawn"},
            "awaiting_draw": {"type": "boolean"},
            "eta_seconds": {"type": ["integer", "null"]},
            "eta_range_seconds": {"type": ["array", "null"], "items": {"type": "integer"}},
            "poll_after_ms": {"type": "integer", "minimum": 0},
            "claim_deadline_ms": {"type": ["integer", "null"]},
            "enter_url": {"type": "string"},
            "follow": {
                "type": "object", "required": ["number", "rank"],
                "description": "Far back: until the board's position reaches its `near`, the "
                               "page may follow /api/v1/queue/board instead of asking here. "
                               "Before the draw (`awaiting_draw`, rank 0) it follows the "
                               "board until the board's `sealed` is 0 or more, then works "
                               "its rank out from the board's `seed` (or, without one, "
                               "asks here once)",
                "properties": {"number": {"type": "integer", "minimum": 1},
                               "rank": {"type": "integer", "minimum": 0,
                                        "description": "rank in the pre-queue's draw; "
                                                       "0 for a walk-in"}}},
        },
    },
    "Board": {
        "type": "object",
        "required": ["as_of_ms", "head", "returning", "order_left", "sealed", "near",
                     "poll_after_ms", "knots"],
        "properties": {
            "as_of_ms": {"type": "integer"}, "head": {"type": "integer", "minimum": 1},
            "returning": {"type": "integer", "minimum": 0},
            "order_left": {"type": "integer", "minimum": 0},
            "sealed": {"type": "integer", "minimum": -1,
                       "description": "last pre-queue number; -1 before the draw, 0 without"},
            "near": {"type": "integer", "minimum": 1,
                     "description": "at or before this position a page asks for its own place"},
            "poll_after_ms": {"type": "array", "items": {"type": "integer", "minimum": 0},
                              "minItems": 2, "maxItems": 2},
            "knots": {"type": ["array", "null"],
                      "items": {"type": "array", "items": {"type": "integer"},
                                "minItems": 3, "maxItems": 3},
                      "description": "[position, low s, high s]; null when no estimate"},
            "seed": {"type": ["string", "null"],
                     "description": "the pre-queue draw's published seed, from which a "
                                    "number's rank follows (waitroom/prequeue.py); null "
                                    "before the draw"},
        },
    },
    "Slot": {
        "type": "object",
        "required": ["id", "start", "end", "capacity", "booked", "holiday"],
        "properties": {
            "id": {"type": "integer"}, "start": {"type": "string", "format": "date-time"},
            "end": {"type": "string", "format": "date-time"},
            "day": {"type": "string", "format": "date"},
            "capacity": {"type": "integer"}, "booked": {"type": "integer"},
            "free": {"type": "integer"}, "holiday": {"type": ["string", "null"]},
            "over_capacity": {"type": "boolean"},
        },
    },
    "Booking": {
        "type": "object", "required": ["code", "status", "slot", "ics_url"],
        "properties": {"code": {"type": "string"}, "status": {"enum": ["active", "cancelled"]},
                       "slot": _ref("Slot"),
                       "ics_url": {"type": "string", "format": "uri"}},
    },
    "Session": {
        "type": "object", "required": ["expires_at"],
        "properties": {"expires_at": {"type": "string", "format": "date-time"},
                       "session_expires_at": {"type": "string", "format": "date-time"},
                       "form_url": {"type": "string"}},
    },
    "Settings": {"type": "object", "properties": settings_properties()},
}

PERSON = {"nik": NIK, "name": NAME, "email": {"anyOf": [EMPTY, EMAIL]}, "phone": PHONE}

PATHS: dict[str, Any] = {
    "/api/v1/queue/join": {"post": {
        "summary": "Join the queue (or get one's existing place back by NIK, phone or e-mail)",
        "requestBody": {"required": False, "content": {"application/json": {"schema": {
            "type": "object", "properties": {
                # Each one optional; an empty string is as good as leaving it out.
                **{k: {"anyOf": [EMPTY, schema]}
                   for k, schema in (("nik", NIK), ("email", EMAIL), ("phone", PHONE))},
                "proof": {"type": "object", "description": "The answer to a proof_required "
                          "challenge", "properties": {
                              "challenge": {"type": "string", "maxLength": 400},
                              "nonce": {"type": "string", "maxLength": 32}}}}}}}},
        "responses": {
            "201": _json({"allOf": [_ref("Place"), {"type": "object", "properties": {
                "token": {"type": "string"}, "offer": {"oneOf": [_ref("Slot"),
                                                                 {"type": "null"}]}}}]},
                         "A new place; the token is also set as a cookie with the browser key"),
            "200": _json(_ref("Place"), "The existing place of this person"),
            **_errors(400, 409, 413, 422, 429, 503)}}},
    "/api/v1/queue/stats": {"get": {
        "summary": "The queue at a glance",
        "responses": {"200": _json({"type": "object", "properties": {
            "waiting": {"type": "integer"}, "active": {"type": "integer"},
            "max_active": {"type": "integer"}, "admit_per_minute": {"type": "integer"},
            "paused": {"type": "boolean"}, "eta_seconds_for_new": {"type": ["integer", "null"]}}},
            "Counts"), **_errors(503)}}},
    "/api/v1/queue/board": {"get": {
        "summary": "Where the queue stands, the same for everybody (cacheable for a second)",
        "responses": {"200": _json(_ref("Board"), "The board"), **_errors(503)}}},
    "/api/v1/queue/{token}": {"get": {
        "summary": "Where a visitor stands", "parameters": [TOKEN],
        "responses": {"200": _json(_ref("Place"), "The place"), **_errors(401, 403, 503)}}},
    "/api/v1/queue/{token}/enter": {"post": {
        "summary": "Claim an admission: starts the form session (cookie)", "parameters": [TOKEN],
        "responses": {"200": _json(_ref("Session"), "The session"),
                      **_errors(401, 403, 409, 503)}}},
    "/api/v1/session/heartbeat": {"post": {
        "summary": "Extend the form session",
        "responses": {"200": _json(_ref("Session"), "Extended"), **_errors(401, 403, 409, 503)}}},
    "/api/v1/session/finish": {"post": {
        "summary": "End the form session and free the place",
        "responses": {"200": _json({"type": "object", "properties": {
            "finished": {"type": "boolean"}}}, "Ended"), **_errors(401, 403, 503)}}},
    "/api/v1/slots": {"get": {
        "summary": "Time slots with their capacity",
        "parameters": [{"name": name, "in": "query",
                        "schema": {"type": "string", "format": "date"}} for name in ("from", "to")],
        "responses": {"200": _json({"type": "object", "properties": {
            "slots": {"type": "array", "items": _ref("Slot")}}}, "Slots"),
            **_errors(422, 503)}}},
    "/api/v1/bookings": {"post": {
        "summary": "Book a slot (by id, or let the scheduler choose by preferences)",
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["nik", "name", "phone"],
            "anyOf": [{"required": ["slot_id"]}, {"required": ["preferences"]}],
            "properties": {**PERSON, "slot_id": {"type": "integer"},
                           "preferences": {"type": "object"}}}}}},
        "responses": {"201": _json(_ref("Booking"), "Booked"),
                      **_errors(400, 403, 404, 409, 413, 422, 503)}}},
    "/api/v1/bookings/{code}": {
        "get": {"summary": "Look up a booking", "parameters": [CODE, OWNER_NIK],
                "responses": {"200": _json(_ref("Booking"), "The booking"),
                              **_errors(404, 422, 503)}},
        "delete": {"summary": "Cancel a booking (minimum notice applies)",
                   "parameters": [CODE, OWNER_NIK],
                   "responses": {"200": _json(_ref("Booking"), "Cancelled"),
                                 **_errors(400, 404, 409, 422, 503)}}},
    "/api/v1/bookings/{code}/reschedule": {"post": {
        "summary": "Move a booking to another slot (minimum notice applies)",
        "parameters": [CODE],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            **NIK_BODY, "properties": {**NIK_BODY["properties"],
                                       "slot_id": {"type": "integer"}},
            "required": ["nik", "slot_id"]}}}},
        "responses": {"200": _json(_ref("Booking"), "Moved"),
                      **_errors(400, 404, 409, 413, 422, 503)}}},
    "/api/v1/bookings/{code}.ics": {"get": {
        "summary": "The booking as a calendar file", "parameters": [CODE],
        "description": "METHOD:PUBLISH while the booking is active, METHOD:CANCEL once it is "
                       "cancelled; SEQUENCE rises with every change, the UID stays.",
        "responses": {"200": {"description": "iCalendar",
                              "content": {"text/calendar": {"schema": {"type": "string"}}}},
                      **_errors(404, 503)}}},
    "/api/v1/admin/settings": {
        "get": {"summary": "The live waiting-room settings", "security": [{"bearer": []}],
                "responses": {"200": _json(_ref("Settings"), "Settings"),
                              **_errors(401, 403, 503)}},
        "patch": {"summary": "Change settings; every process applies them within a second",
                  "security": [{"bearer": []}],
                  "requestBody": {"required": True, "content": {
                      "application/json": {"schema": {
                          "type": "object", "properties": settings_properties(),
                          "additionalProperties": False}}}},
                  "responses": {"200": _json(_ref("Settings"), "Changed"),
                                **_errors(400, 401, 403, 413, 422, 503),
                                "409": _json(_ref("Error"), "The settings would contradict "
                                             "each other once applied (conflicting_settings):"
                                             " an idle limit above the session's lifetime, "
                                             "a closing time not after the opening")}}},
}

DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "Antrean", "version": "1",
             "description": "Virtual waiting room and appointment slots. Errors are "
                            '{"error": {"code", "message", "fields"}}.'},
    "paths": PATHS,
    "components": {"schemas": SCHEMAS,
                   "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
}


async def openapi(request: Request) -> Response:
    return JSONResponse(DOCUMENT)


routes = [Route("/openapi.json", openapi, methods=["GET"])]
