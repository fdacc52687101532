"""Uploaded documents, kept outside the web root and never served publicly.

One interface, ``UploadStore``, with two places behind it: a directory on this
machine (the embedded default) and an S3-compatible bucket every web node shares
(``portal.form.s3_uploads``). A file is named by a random id; the visitor's file
name is only a label kept beside the id in the draft.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from portal.form.fields import check_pdf

if TYPE_CHECKING:
    from portal.settings import UploadSettings


class MissingUpload(LookupError):
    """No stored file has this id (never stored, or removed from the store)."""


class UploadStoreUnavailable(ConnectionError):
    """The store did not answer; the request is answered 503, the visitor retries."""


def write_durably(path: Path, data: bytes) -> None:
    """Write a file so a crash leaves all of it or nothing (temporary name, fsync, rename)."""
    temporary = path.with_suffix(".part")
    with open(temporary, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


@dataclass(frozen=True)
class StoredFile:
    """A stored upload as a draft or submission refers to it."""

    id: str
    name: str
    size: int
    sha256: str

    def as_dict(self) -> dict[str, Any]:
        """The JSON form kept in drafts and submissions."""
        return asdict(self)


def new_file_id() -> str:
    """A fresh random id: 32 hexadecimal digits."""
    return secrets.token_hex(16)


def checked_file_id(file_id: str) -> str:
    """``file_id`` if it has the shape of one (so it cannot walk a tree); ValueError if not."""
    if len(file_id) != 32 or not all(c in "0123456789abcdef" for c in file_id):
        raise ValueError("not a file id")
    return file_id


def file_label(name: str) -> str:
    """The visitor's file name as a label: printable characters, bounded, never a path."""
    label = "".join(ch for ch in os.path.basename(name or "") if ch.isprintable())[:120]
    return label.strip() or "berkas.pdf"


def stored_file(file_id: str, name: str, data: bytes) -> StoredFile:
    """What a draft keeps of ``data`` stored under ``file_id``."""
    return StoredFile(file_id, file_label(name), len(data), hashlib.sha256(data).hexdigest())


class UploadStore(Protocol):
    """Where uploaded PDFs are kept. Every method blocks: call it in a thread."""

    def save_pdf(self, data: bytes, name: str) -> StoredFile:
        """Check that ``data`` is a PDF of at most 1 MB and store it; raise UploadError if not."""
        ...

    def read(self, file_id: str) -> bytes:
        """The bytes of a stored file; raise MissingUpload when there is none."""
        ...

    def exists(self, file_id: str) -> bool:
        """Whether a file with this id is stored."""
        ...

    def health(self) -> str:
        """``"ok"`` when files can be stored now, else a short reason (for /readyz)."""
        ...

    def keep(self, name: str, data: bytes) -> None:
        """Keep a working file (``roster/<id>.csv``) until ``discard``: any machine reads it."""
        ...

    def fetch(self, name: str) -> bytes:
        """A kept working file's bytes; raise MissingUpload when there is none."""
        ...

    def discard(self, name: str) -> None:
        """Remove a kept working file (nothing happens when it is gone already)."""
        ...


WORKING_NAME = re.compile(r"[a-z]+/[A-Za-z0-9_-]{8,64}\.(csv|xlsx)")


def checked_working_name(name: str) -> str:
    """A working file's name, checked so it cannot walk the tree or the bucket."""
    if not WORKING_NAME.fullmatch(name):
        raise ValueError("not a working file name")
    return name


class LocalUploadStore:
    """Files under one directory, named by random id (the visitor's name is only a label)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_of(self, file_id: str) -> Path:
        """Where a stored file lives; the id is checked so it cannot walk the tree."""
        checked_file_id(file_id)
        return self.root / file_id[:2] / f"{file_id}.pdf"

    def save_pdf(self, data: bytes, name: str) -> StoredFile:
        """Check that ``data`` is a PDF of at most 1 MB and store it; raise UploadError if not."""
        check_pdf(data)
        file_id = new_file_id()
        path = self.path_of(file_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_durably(path, data)
        return stored_file(file_id, name, data)

    def read(self, file_id: str) -> bytes:
        """The bytes of a stored file (for operators' exports, never a public URL)."""
        try:
            return self.path_of(file_id).read_bytes()
        except FileNotFoundError:
            raise MissingUpload(f"no stored file {file_id}") from None

    def exists(self, file_id: str) -> bool:
        """Whether a file with this id is stored."""
        return self.path_of(file_id).is_file()

    def keep(self, name: str, data: bytes) -> None:
        path = self.root / checked_working_name(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_durably(path, data)

    def fetch(self, name: str) -> bytes:
        try:
            return (self.root / checked_working_name(name)).read_bytes()
        except FileNotFoundError:
            raise MissingUpload(f"no working file {name}") from None

    def discard(self, name: str) -> None:
        (self.root / checked_working_name(name)).unlink(missing_ok=True)

    def health(self) -> str:
        """``"ok"`` when the directory (or, before the first upload, its parent) is writable."""
        target = self.root if self.root.exists() else self.root.parent
        return "ok" if os.access(target, os.W_OK | os.X_OK) else "not writable"


_stores: dict[object, UploadStore] = {}
_stores_lock = threading.Lock()
MAX_STORES = 16  # a process has one; tests build many apps


class StoreSettings(Protocol):
    """What names an upload store: the app's settings, or a worker's (NotifySettings)."""

    @property
    def uploads(self) -> UploadSettings | None: ...

    @property
    def var_dir(self) -> Path: ...


def upload_store(settings: StoreSettings) -> UploadStore:
    """The store ``settings`` name, one per process and settings (an S3 client is costly)."""
    from portal.settings import UploadSettings  # the settings module imports this one

    uploads = settings.uploads or UploadSettings()
    key = (uploads, settings.var_dir)
    with _stores_lock:
        store = _stores.get(key)
        if store is None:
            if uploads.store == "s3":
                # Imported here: boto3 takes a while to load and local stores never need it.
                from portal.form.s3_uploads import S3UploadStore

                store = S3UploadStore.from_settings(uploads)
            else:
                store = LocalUploadStore(settings.var_dir / "uploads")
            if len(_stores) >= MAX_STORES:
                _stores.pop(next(iter(_stores)))
            _stores[key] = store
        return store
