"""The OpenAPI description of the public JSON API (v1), served at /openapi.json."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    names = {400: "Unreadable body", 401: "No valid token or session", 403: "Not yours",
             404: "Not found", 409: "Conflict with the current state", 410: "Gone",
             413: "Body too large", 422: "Invalid fields", 429: "Too many requests",
             503: "Redis or the database is unavailable (see Retry-After)"}
    return {str(status): _json(_ref("Error"), names[status]) for status in statuses}


TOKEN = {"name": "token", "in": "path", "required": True,
         "schema": {"type": "string", "maxLength": 512}}
CODE = {"name": "code", "in": "path", "required": True,
        "schema": {"type": "string", "maxLength": 20}}
OWNER_NIK = {"name": "X-Antrean-NIK", "in": "header", "required": True,
             "description": "The NIK the booking belongs to (never in the URL)",
             "schema": {"type": "string", "maxLength": 32}}
NIK_BODY: dict[str, Any] = {
    "type": "object", "properties": {"nik": {"type": "string", "maxLength": 32}},
    "required": ["nik"],
}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object", "required": ["error"],
        "properties": {"error": {
            "type": "object", "required": ["code", "message", "fields"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                           "fields": {"type": "object",
                                      "additionalProperties": {"type": "string"}}}}},
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
                       "slot": _ref("Slot"), "ics_url": {"type": "string"}},
    },
    "Session": {
        "type": "object", "required": ["expires_at"],
        "properties": {"expires_at": {"type": "string", "format": "date-time"},
                       "session_expires_at": {"type": "string", "format": "date-time"},
                       "form_url": {"type": "string"}},
    },
    "Settings": {
        "type": "object",
        "properties": {
            "max_active": {"type": "integer", "minimum": 1},
            "admit_per_minute": {"type": "integer", "minimum": 1},
            "session_ttl_seconds": {"type": "integer", "minimum": 60},
            "idle_timeout_seconds": {"type": "integer", "minimum": 30},
            "claim_window_seconds": {"type": "integer", "minimum": 10},
            "booked_share": {"type": "number", "minimum": 0, "maximum": 1},
            "stale_after_seconds": {"type": "integer", "minimum": 0},
            "return_grace_seconds": {"type": "integer", "minimum": 0},
            "expected_session_minutes": {"type": "number", "exclusiveMinimum": 0},
            "paused": {"type": "boolean"},
            "opens_at": {"type": "integer", "minimum": 0},
            "closes_at": {"type": "integer", "minimum": 0},
            "fail_open": {"type": "boolean"},
        },
    },
}

PERSON = {"nik": {"type": "string", "maxLength": 32}, "name": {"type": "string"},
          "email": {"type": "string"}, "phone": {"type": "string"}}

PATHS: dict[str, Any] = {
    "/api/v1/queue/join": {"post": {
        "summary": "Join the queue (or get one's existing place back by NIK, phone or e-mail)",
        "requestBody": {"required": False, "content": {"application/json": {"schema": {
            "type": "object", "properties": {k: PERSON[k] for k in ("nik", "email", "phone")}}}}},
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
        "parameters": [{"name": "from", "in": "query", "schema": {"type": "string"}},
                       {"name": "to", "in": "query", "schema": {"type": "string"}}],
        "responses": {"200": _json({"type": "object", "properties": {
            "slots": {"type": "array", "items": _ref("Slot")}}}, "Slots"),
            **_errors(422, 503)}}},
    "/api/v1/bookings": {"post": {
        "summary": "Book a slot (by id, or let the scheduler choose by preferences)",
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["nik", "name", "phone"],
            "properties": {**PERSON, "slot_id": {"type": "integer"},
                           "preferences": {"type": "object"}}}}}},
        "responses": {"201": _json(_ref("Booking"), "Booked"),
                      **_errors(400, 404, 409, 413, 422, 503)}}},
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
                                       "slot_id": {"type": "integer"}}}}}},
        "responses": {"200": _json(_ref("Booking"), "Moved"),
                      **_errors(400, 404, 409, 413, 422, 503)}}},
    "/api/v1/bookings/{code}.ics": {"get": {
        "summary": "The booking as a calendar file", "parameters": [CODE],
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
                      "application/json": {"schema": _ref("Settings")}}},
                  "responses": {"200": _json(_ref("Settings"), "Changed"),
                                **_errors(400, 401, 403, 413, 422, 503)}}},
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
