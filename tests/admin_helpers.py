"""Shared steps of the admin console tests: accounts, logging in, CSRF tokens."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

from portal.admin.auth import create_user
from portal.db import create_db_engine, session_factory
from portal.settings import Settings

PASSWORD = "kata-sandi-yang-panjang"


def add_user(settings: Settings, username: str, role: str, password: str = PASSWORD) -> None:
    """Create an account straight in the database."""
    engine = create_db_engine(settings.database_url)
    try:
        with session_factory(engine)() as session:
            create_user(session, username, role, password)
            session.commit()
    finally:
        engine.dispose()


def csrf_of(html: str) -> str:
    """The CSRF token of the first form on a page."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def log_in(client: TestClient, username: str, password: str = PASSWORD,
           expect: int = 303) -> None:
    """Log in through the form; assert the answer's status."""
    page = client.get("/admin/masuk")
    response = client.post("/admin/masuk", data={
        "csrf_token": csrf_of(page.text), "username": username, "password": password,
        "next": "/admin"}, follow_redirects=False)
    assert response.status_code == expect, (response.status_code, response.text[:300])


def post_form(client: TestClient, page_path: str, action: str, data: dict[str, str],
              **kwargs: object):  # type: ignore[no-untyped-def]
    """GET a page for its CSRF token, then POST a form to ``action``."""
    page = client.get(page_path)
    return client.post(action, data={"csrf_token": csrf_of(page.text), **data},
                       follow_redirects=False, **kwargs)  # type: ignore[arg-type]
