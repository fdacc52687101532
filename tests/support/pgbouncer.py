"""A real PgBouncer in transaction mode in front of the test PostgreSQL (Debian's package).

PgBouncer refuses to run as root, so as root it runs as the ``postgres`` user.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from tests.support.servers import free_port, stop_process

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"


def available() -> bool:
    return os.path.exists(PGBOUNCER)


@contextmanager
def pgbouncer(postgres_url: str, pool_size: int = 2) -> Iterator[str]:
    """Run PgBouncer (transaction pooling, ``pool_size`` server connections) in front of
    ``postgres_url``'s server; yield the same URL pointing at PgBouncer."""
    target = urlsplit(postgres_url)
    port = free_port()
    # Its own directory under /tmp: the postgres user cannot enter pytest's (mode 700).
    directory = Path(tempfile.mkdtemp(prefix="antrean-pgbouncer-"))
    directory.chmod(0o755)
    user = target.username or "postgres"
    (directory / "users.txt").write_text(f'"{user}" ""\n')
    ini = directory / "pgbouncer.ini"
    ini.write_text(f"""[databases]
* = host={target.hostname or '127.0.0.1'} port={target.port or 5432}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {directory / 'users.txt'}
pool_mode = transaction
default_pool_size = {pool_size}
max_client_conn = 200
""")
    for path in directory.iterdir():
        path.chmod(0o644)
    command = [PGBOUNCER, str(ini)]
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("PgBouncer did not start: "
                                       + (process.stderr.read().decode() if process.stderr
                                          else "")) from None
                time.sleep(0.05)
        netloc = f"{user}@127.0.0.1:{port}"
        yield target._replace(netloc=netloc).geturl()
    finally:
        stop_process(process, timeout=5)
        if process.stderr is not None:
            process.stderr.close()
        shutil.rmtree(directory, ignore_errors=True)
