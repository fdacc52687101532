"""The loop's outage lines: one when it starts, a reminder now and then, one when it ends."""

from __future__ import annotations

import logging

import pytest
import redis
from sqlalchemy import exc as sql_errors

from portal.outage import Outage, describe

log = logging.getLogger("antrean.test_outage")
REFUSED = redis.ConnectionError("Error 111 connecting to 127.0.0.1:6390. Connection refused.")


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [f"{record.levelname} {record.getMessage()}" for record in caplog.records]


def test_an_outage_is_one_line_going_and_one_coming_back(caplog) -> None:
    caplog.set_level(logging.INFO, logger=log.name)
    outage = Outage(log, "loop")
    outage.succeeded(0.0)  # nothing to say while all is well
    for second in range(0, 12):
        outage.failed(REFUSED, 100.0 + second)
    outage.succeeded(112.0)
    outage.succeeded(113.0)
    assert lines(caplog) == [
        "WARNING loop: Redis unreachable: ConnectionError: Error 111 connecting to "
        "127.0.0.1:6390. Connection refused.",
        "INFO loop: back after 12 s",
    ]


def test_a_long_outage_is_recalled_every_five_minutes(caplog) -> None:
    caplog.set_level(logging.INFO, logger=log.name)
    outage = Outage(log, "loop")
    for second in range(0, 700, 1):
        outage.failed(REFUSED, float(second))
    assert [line.split(":", 2)[1] for line in lines(caplog)] == [
        " Redis unreachable", " still failing after 300 s", " still failing after 600 s"]


def test_another_kind_of_failure_is_said_at_once(caplog) -> None:
    caplog.set_level(logging.INFO, logger=log.name)
    outage = Outage(log, "loop")
    outage.failed(REFUSED, 0.0)
    outage.failed(redis.TimeoutError("Timeout reading from socket"), 1.0)
    outage.failed(redis.TimeoutError("Timeout reading from socket"), 2.0)
    outage.succeeded(5.0)
    assert lines(caplog)[1:] == ["WARNING loop: Redis unreachable: TimeoutError: "
                                 "Timeout reading from socket",
                                 "INFO loop: back after 5 s"]


def test_messages_that_may_quote_data_are_left_out() -> None:
    # a script's or a statement's message may carry what it was given: a NIK, a phone
    assert describe(redis.ResponseError("ERR user_script:1: 3201234567890123")) == (
        "Redis error: ResponseError", "")
    integrity = sql_errors.IntegrityError("INSERT ...", {"nik": "3201234567890123"},
                                          Exception("duplicate key\nDETAIL: (nik)=(3201…)"))
    assert describe(integrity) == ("database error: IntegrityError", "")
    assert describe(ValueError("3201234567890123")) == ("step failed: ValueError", "")
    down = sql_errors.OperationalError("SELECT 1", {}, Exception(
        'connection to server at "127.0.0.1", port 5432 failed: Connection refused\nIs it up?'))
    assert describe(down) == ("database unreachable: Exception", 'connection to server at '
                              '"127.0.0.1", port 5432 failed: Connection refused')
