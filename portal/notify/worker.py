"""``python -m portal.notify.worker``: an RQ worker with the notification code preloaded.

RQ's forking Worker resolves each job's function in a fresh child process; when
the parent has not imported it, every job pays for importing SQLAlchemy, Jinja
and Babel again (about half a second). Importing and compiling here, before the
first fork, makes each child start warm. ``--simple`` runs jobs in this process
instead (RQ's SimpleWorker), keeping one database pool and one SMTP connection
across jobs: several times faster, at the price of no per-job process isolation.
"""

from __future__ import annotations

import argparse
import sys

from rq import SimpleWorker, Worker

from portal.notify import dispatch, jobs  # noqa: F401  (preloaded before the first fork)
from portal.notify.messages import warm_templates
from portal.notify.settings import NotifySettings
from portal.redis_clients import open_job_connection
from portal.settings import SettingsError


def run_worker(settings: NotifySettings, *, simple: bool, burst: bool = False,
               queues: tuple[str, ...] = ("antrean",)) -> bool:
    """Work the queues until stopped (or empty, with ``burst``); True if any job ran."""
    if settings.job_url is None:
        raise SettingsError("the worker needs ANTREAN_REDIS_URL")
    warm_templates(settings.timezone, settings.agency)
    # RQ's queues and workers on the job Redis; what jobs change in the room's Redis
    # (rate buckets, roster imports) goes through the runtime's own client.
    connection = open_job_connection(settings.job_url)
    worker_class = SimpleWorker if simple else Worker
    worker = worker_class(list(queues), connection=connection)
    return bool(worker.work(burst=burst, with_scheduler=True))


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(prog="python -m portal.notify.worker",
                                     description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--simple", action="store_true",
                        help="run jobs in this process (faster, no per-job fork)")
    parser.add_argument("--burst", action="store_true", help="stop when the queue is empty")
    args = parser.parse_args(argv)
    try:
        settings = NotifySettings.from_env()
    except SettingsError as exc:
        sys.exit(f"antrean: {exc}")
    run_worker(settings, simple=args.simple, burst=args.burst)
    return 0


if __name__ == "__main__":
    sys.exit(main())
