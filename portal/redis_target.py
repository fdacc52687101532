"""Where a Redis is: one server, a Redis Cluster, or a primary that Sentinel manages.

``ANTREAN_REDIS_URL`` and ``ANTREAN_JOB_REDIS_URL`` take one of:

- ``redis://[user:password@]host:port/db``, ``rediss://…`` (TLS) or
  ``unix:///path.sock?db=0``: one server, read by redis-py's ``from_url``;
- ``redis+cluster://[user:password@]host:port,host:port/`` (``rediss+cluster://``
  for TLS): a Redis Cluster, discovered from any of the nodes named;
- ``redis+sentinel://[user:password@]host:port,host:port/service[/db]``
  (``rediss+sentinel://`` for TLS): the primary that the Sentinels at those
  addresses name for ``service``; the user and password are the primary's, a
  ``?sentinel_password=`` query gives the Sentinels' own.

Parsing is pure: nothing connects here (``portal.redis_clients`` does).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

from portal.environment import SettingsError

SINGLE, CLUSTER, SENTINEL = "single", "cluster", "sentinel"
_SCHEMES = {
    "redis": (SINGLE, False), "rediss": (SINGLE, True), "unix": (SINGLE, False),
    "redis+cluster": (CLUSTER, False), "rediss+cluster": (CLUSTER, True),
    "redis+sentinel": (SENTINEL, False), "rediss+sentinel": (SENTINEL, True),
}
_DEFAULT_PORT = {CLUSTER: 6379, SENTINEL: 26379}


@dataclass(frozen=True)
class RedisTarget:
    """One parsed Redis URL: its kind and what a client needs to reach it."""

    kind: str
    url: str
    nodes: tuple[tuple[str, int], ...] = ()
    service: str = ""
    db: int = 0
    username: str | None = None
    password: str | None = None
    sentinel_password: str | None = None
    tls: bool = False

    @property
    def cluster(self) -> bool:
        """Whether this is a Redis Cluster (which RQ cannot use)."""
        return self.kind == CLUSTER

    def __repr__(self) -> str:
        # The URL may carry a password: never show it in logs or tracebacks.
        where = ",".join(f"{host}:{port}" for host, port in self.nodes) or "url"
        return f"RedisTarget({self.kind}, {where})"


def parse_redis_url(url: str, name: str = "ANTREAN_REDIS_URL") -> RedisTarget:
    """Read one Redis URL; refuse, naming the variable, what no client could use."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in _SCHEMES:
        raise SettingsError(
            f"{name} must start with redis://, rediss://, unix:// (one server), "
            "redis+cluster:// (a Redis Cluster) or redis+sentinel:// (a Sentinel-managed "
            "primary)")
    kind, tls = _SCHEMES[scheme]
    if kind == SINGLE:
        return RedisTarget(SINGLE, url, tls=tls)
    rest = url.split("://", 1)[1]
    userinfo, _, hosts_and_path = rest.rpartition("@")
    netloc, _, tail = hosts_and_path.partition("/")
    path, _, query = tail.partition("?")
    if "?" in netloc:
        netloc, _, query = netloc.partition("?")
    nodes = tuple(_node(part, kind, name) for part in netloc.split(",") if part.strip())
    if not nodes:
        raise SettingsError(f"{name}: name at least one host:port")
    username, password = _credentials(userinfo)
    options = parse_qs(query)
    sentinel_password = options.get("sentinel_password", [None])[0]
    parts = [unquote(part) for part in path.split("/") if part]
    if kind == CLUSTER:
        if parts not in ([], ["0"]):
            raise SettingsError(f"{name}: a Redis Cluster has only database 0; end the URL "
                                "with / (redis+cluster://host1:6379,host2:6379/)")
        return RedisTarget(CLUSTER, url, nodes, username=username, password=password, tls=tls)
    if not parts or len(parts) > 2:
        raise SettingsError(f"{name}: name the Sentinel service, like "
                            "redis+sentinel://host1:26379,host2:26379/mymaster/0")
    db = 0
    if len(parts) == 2:
        if not parts[1].isdigit():
            raise SettingsError(f"{name}: the database after the service must be a number, "
                                f"not {parts[1]!r}")
        db = int(parts[1])
    return RedisTarget(SENTINEL, url, nodes, service=parts[0], db=db, username=username,
                       password=password, sentinel_password=sentinel_password, tls=tls)


def job_redis_target(url: str, name: str = "ANTREAN_JOB_REDIS_URL") -> RedisTarget:
    """The parsed job-queue URL; refused when it names a cluster (RQ cannot use one)."""
    target = parse_redis_url(url, name)
    if target.cluster:
        raise SettingsError(f"{name} names a Redis Cluster, but the job queue (RQ) needs "
                            "one Redis server or a Sentinel-managed primary.")
    return target


def _node(part: str, kind: str, name: str) -> tuple[str, int]:
    parsed = urlsplit(f"//{part.strip()}")
    try:
        port = parsed.port or _DEFAULT_PORT[kind]
    except ValueError as exc:
        raise SettingsError(f"{name}: {part.strip()!r} is not host:port") from exc
    if not parsed.hostname:
        raise SettingsError(f"{name}: {part.strip()!r} is not host:port")
    return parsed.hostname, port


def _credentials(userinfo: str) -> tuple[str | None, str | None]:
    if not userinfo:
        return None, None
    # As redis-py reads redis:// URLs: user:password, :password, or a user alone.
    user, _, password = userinfo.partition(":")
    return unquote(user) or None, unquote(password) or None
