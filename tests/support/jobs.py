"""Running the portal's RQ jobs inside a test, as `antrean worker` would."""

from __future__ import annotations

import redis
from rq import Queue, SimpleWorker

from portal.db import create_db_engine, session_factory
from portal.notify import jobs
from portal.notify.settings import NotifySettings
from portal.redis_clients import SyncRedisClient


def work_jobs(notify: NotifySettings, redis_client: redis.Redis,
              room_client: SyncRedisClient | None = None) -> None:
    """Run every queued job in this process (burst), with the runtime ``notify`` describes.

    ``redis_client`` holds the job queue; ``room_client`` the room's keys, when elsewhere.
    """
    engine = create_db_engine(notify.database_url)
    jobs.install_runtime(jobs.build_runtime(notify, session_factory(engine),
                                            room_client or redis_client))
    try:
        SimpleWorker([Queue("antrean", connection=redis_client)],
                     connection=redis_client).work(burst=True)
    finally:
        jobs.install_runtime(None)
        engine.dispose()
