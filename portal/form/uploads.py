"""Uploaded documents, kept on disk outside the web root and never served publicly."""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from portal.form.fields import check_pdf


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


class UploadStore:
    """Files under one directory, named by random id (the visitor's name is only a label)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_of(self, file_id: str) -> Path:
        """Where a stored file lives; the id is checked so it cannot walk the tree."""
        if len(file_id) != 32 or not all(c in "0123456789abcdef" for c in file_id):
            raise ValueError("not a file id")
        return self.root / file_id[:2] / f"{file_id}.pdf"

    def save_pdf(self, data: bytes, name: str) -> StoredFile:
        """Check that ``data`` is a PDF of at most 1 MB and store it; raise UploadError if not."""
        check_pdf(data)
        file_id = secrets.token_hex(16)
        path = self.path_of(file_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_durably(path, data)
        # The visitor's file name is only a label: printable characters, bounded.
        label = "".join(ch for ch in os.path.basename(name or "") if ch.isprintable())[:120]
        label = label.strip() or "berkas.pdf"
        return StoredFile(file_id, label, len(data), hashlib.sha256(data).hexdigest())

    def read(self, file_id: str) -> bytes:
        """The bytes of a stored file (for operators' exports, never a public URL)."""
        return self.path_of(file_id).read_bytes()
