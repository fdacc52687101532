"""``antrean admin create-user``: operator accounts from the command line."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from portal.admin import audit
from portal.admin.auth import AccountError, create_user, generate_password
from portal.admin.models import ROLES
from portal.db import create_db_engine, session_factory, upgrade
from portal.settings import Settings, SettingsError


def cmd_create_user(args: argparse.Namespace) -> int:
    """Create an account; the password is asked for, or generated and printed once."""
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        sys.exit(f"antrean: {exc}")
    generated = args.generate or not sys.stdin.isatty()
    if generated:
        password = generate_password()
    else:
        password = getpass.getpass("Kata sandi: ")
        if getpass.getpass("Ulangi kata sandi: ") != password:
            sys.exit("antrean: kata sandi tidak sama")
    engine = create_db_engine(settings.database_url, settings.database)
    try:
        upgrade(engine)
        with session_factory(engine)() as session:
            try:
                user = create_user(session, args.username, args.role, password,
                                   settings.admin.passwords)
            except AccountError as exc:
                sys.exit(f"antrean: {exc}")
            audit.record(session, "cli", "user.create", target=user.username,
                         after={"role": user.role, "active": True})
            session.commit()
    finally:
        engine.dispose()
    print(f"pengguna {args.username.strip().lower()} ({args.role}) dibuat")
    if generated:
        # Shown once: only the hash is stored.
        print(f"kata sandi: {password}")
    return 0


def register(sub: Any) -> None:
    """Add the ``admin`` commands to the ``antrean`` parser."""
    admin = sub.add_parser("admin", help="admin console accounts")
    admin_sub = admin.add_subparsers(dest="admin_command", required=True)
    create = admin_sub.add_parser("create-user", help="create an operator account")
    create.add_argument("username")
    create.add_argument("--role", choices=ROLES, default="operator")
    create.add_argument("--generate", action="store_true",
                        help="generate the password and print it once (default without a tty)")
    create.set_defaults(func=cmd_create_user)
