"""The portal's state: one frozen, typed object built by ``create_app``.

Route handlers read it from the request with ``state_of``; everything below
them takes what it needs as arguments. The connections to Redis and the job
queue belong to one event loop, so the lifespan opens them (``Connections``)
and closes them again; the rest is built once with the app.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from redis import Redis as SyncRedis
from rq import Queue
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.requests import HTTPConnection
from starlette.templating import Jinja2Templates

from portal.keys import PortalKeys
from portal.notify.settings import NotifySettings
from portal.redis_clients import (
    TIMEOUTS,
    AsyncRedisClient,
    SyncRedisClient,
    open_async,
    open_job_connection,
    open_sync,
)
from portal.settings import AdminSettings, Settings
from waitroom.proof import ProofSigner
from waitroom.room import WaitingRoom
from waitroom.tokens import TokenSigner

JOB_QUEUE = "antrean"


class NotStarted(RuntimeError):
    """A connection was asked for outside the app's lifespan."""


@dataclass
class Connections:
    """Redis, the job queue and the room, open while the lifespan runs (one event loop)."""

    redis: AsyncRedisClient | None = None
    # The room's Redis again, synchronous, for work done in threads (roster imports).
    sync_redis: SyncRedisClient | None = None
    # The job queue's Redis (ANTREAN_JOB_REDIS_URL; by default the room's).
    job_redis: SyncRedis | None = None
    queue: Queue | None = None
    room: WaitingRoom | None = None

    def open(self, settings: Settings, keys: PortalKeys) -> WaitingRoom:
        """Connect (lazily: nothing is sent yet) and return the room."""
        url, job_url = settings.redis_url, settings.job_url
        if url is None or job_url is None:
            raise NotStarted("settings.redis_url is not set")
        self.redis = open_async(url)
        self.sync_redis = open_sync(url, **TIMEOUTS)
        self.job_redis = open_job_connection(job_url)
        self.queue = Queue(JOB_QUEUE, connection=self.job_redis)
        self.room = WaitingRoom(self.redis, keys.room_keys)
        return self.room

    async def close(self) -> None:
        """Close what ``open`` opened."""
        if self.redis is not None:
            await self.redis.aclose()
        for client in (self.sync_redis, self.job_redis):
            if client is not None:
                client.close()
        self.redis = self.sync_redis = self.job_redis = self.queue = self.room = None


@dataclass
class TimedValue:
    """One value computed now and then and shared by the requests of a process."""

    at: float = 0.0
    value: Any = None

    def fresh(self, max_age: float, now: float | None = None) -> bool:
        """Whether the value was set less than ``max_age`` seconds ago."""
        moment = time.monotonic() if now is None else now
        return self.value is not None and moment - self.at < max_age

    def set(self, value: Any, now: float | None = None) -> None:
        """Keep ``value`` from now on."""
        self.at, self.value = (time.monotonic() if now is None else now), value


@dataclass(frozen=True)
class PortalState:
    """Everything a request handler may use."""

    settings: Settings
    keys: PortalKeys
    signer: TokenSigner
    templates: dict[str, Jinja2Templates]
    engine: Engine
    db: sessionmaker[Session]
    connections: Connections = field(default_factory=Connections)
    # The dashboard's wait figures, computed at most every few seconds per process.
    dashboard_waits: TimedValue = field(default_factory=TimedValue)
    # The operators' banner for pages visitors reload often (read every few seconds).
    banner: TimedValue = field(default_factory=TimedValue)

    @cached_property
    def proofs(self) -> ProofSigner:
        """Signs the join gate's challenges and slow-lane tickets with the app's secret."""
        return ProofSigner(str(self.settings.secret_key))

    @property
    def notify(self) -> NotifySettings:
        """The notification settings (messages, channels, retries)."""
        return self.settings.notify

    @property
    def admin(self) -> AdminSettings:
        """The console's settings (login throttle, sessions, metrics access)."""
        return self.settings.admin

    @property
    def redis(self) -> AsyncRedisClient:
        """The async client of the room's Redis, of this event loop."""
        if self.connections.redis is None:
            raise NotStarted("Redis is open only while the app's lifespan runs")
        return self.connections.redis

    @property
    def sync_redis(self) -> SyncRedisClient:
        """The room's Redis, synchronous (for work that runs in a thread)."""
        if self.connections.sync_redis is None:
            raise NotStarted("Redis is open only while the app's lifespan runs")
        return self.connections.sync_redis

    @property
    def queue(self) -> Queue:
        """The RQ queue the background jobs go to."""
        if self.connections.queue is None:
            raise NotStarted("the job queue is open only while the app's lifespan runs")
        return self.connections.queue

    @property
    def room(self) -> WaitingRoom:
        """The waiting room this portal serves."""
        if self.connections.room is None:
            raise NotStarted("the room is open only while the app's lifespan runs")
        return self.connections.room

    @property
    def started(self) -> bool:
        """Whether the lifespan has opened the connections."""
        return self.connections.room is not None


def state_of(connection: HTTPConnection) -> PortalState:
    """The portal state of the app serving this request."""
    state: PortalState = connection.app.state.portal
    return state
