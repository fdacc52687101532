"""The ``antrean`` command line."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys

from portal.cli import admin as admin_cli
from portal.cli import schedule as cli_schedule
from portal.logs import configure_logging
from portal.settings import Settings, SettingsError


def _settings() -> Settings:
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        sys.exit(f"antrean: {exc}")
    configure_logging(settings.log_format, settings.log_level)
    return settings


def cmd_run(args: argparse.Namespace) -> int:
    from portal.cli.run import run

    settings = _settings()
    if args.no_demo:
        from dataclasses import replace

        settings = replace(settings, demo=False)
    return run(settings)


def cmd_web(args: argparse.Namespace) -> int:
    import os

    from portal.cli.run import web_command
    from portal.telemetry import prepare_multiprocess_dir

    settings = _settings()
    command = web_command(settings)
    prepare_multiprocess_dir(settings.var_dir, os.environ)
    # The server takes this process's place: the service manager's signals reach it.
    os.execv(command[0], command)
    return 0  # pragma: no cover (execv does not return)


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from portal.cli.run import migrate

    migrate(_settings())
    print("database is up to date")
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from portal.notify.worker import run_worker

    settings = _settings()
    if settings.redis_url is None:
        sys.exit("antrean: the worker needs ANTREAN_REDIS_URL (antrean run sets it)")
    # Jobs run in the worker process itself: a fork per message would import the
    # templates and the database layer again for every e-mail.
    run_worker(settings.notify, simple=not args.fork)
    return 0


def cmd_loop(args: argparse.Namespace) -> int:
    from portal.cli.run import tick_loop

    settings = _settings()
    if settings.redis_url is None:
        sys.exit("antrean: the loop needs ANTREAN_REDIS_URL (antrean run sets it)")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(tick_loop(settings))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(prog="antrean", description="Antrean waiting room")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="start web server, worker and scheduler loop")
    run.add_argument("--no-demo", action="store_true", help="start empty (no demo data)")
    run.set_defaults(func=cmd_run)

    web = sub.add_parser("web", help="run the web server only (ANTREAN_HOST, ANTREAN_PORT, "
                                     "ANTREAN_WEB_WORKERS)")
    web.set_defaults(func=cmd_web)

    db = sub.add_parser("db", help="database schema")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="apply migrations").set_defaults(func=cmd_db_upgrade)

    worker = sub.add_parser("worker", help="run an RQ worker (notifications)")
    worker.add_argument("--fork", action="store_true",
                        help="run each job in a forked child (isolation over speed)")
    worker.set_defaults(func=cmd_worker)
    sub.add_parser("loop", help="run the admission/reminder loop").set_defaults(func=cmd_loop)
    cli_schedule.register(sub)
    admin_cli.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``antrean`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    finally:
        cli_schedule.dispose_engines()


if __name__ == "__main__":
    sys.exit(main())
