"""The local upload store and the choice of store a process makes from its settings."""

from __future__ import annotations

from dataclasses import replace

import pytest

from portal.form.fields import UploadError
from portal.form.s3_uploads import S3UploadStore
from portal.form.uploads import LocalUploadStore, MissingUpload, new_file_id, upload_store
from portal.settings import Settings
from tests.support.form import PDF
from tests.support.s3 import S3Server


def test_the_local_store_keeps_files_by_id_and_names_a_missing_one(tmp_path) -> None:
    store = LocalUploadStore(tmp_path / "uploads")
    assert store.health() == "ok"  # writable before the first upload
    stored = store.save_pdf(PDF, "/etc/../Ijazah S1.pdf")
    assert stored.name == "Ijazah S1.pdf"
    assert store.path_of(stored.id).read_bytes() == PDF == store.read(stored.id)
    assert store.exists(stored.id) and not list(tmp_path.rglob("*.part"))
    absent = new_file_id()
    with pytest.raises(MissingUpload, match=absent):
        store.read(absent)
    assert not store.exists(absent)
    with pytest.raises(ValueError, match="not a file id"):
        store.read("../secret_key")
    with pytest.raises(UploadError):
        store.save_pdf(b"", "kosong.pdf")
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    assert LocalUploadStore(blocked / "uploads").health() == "not writable"


def test_a_process_keeps_one_store_for_its_settings(tmp_path, s3_server: S3Server,
                                                    s3_bucket: str) -> None:
    settings = Settings.from_env({"ANTREAN_ENV": "test", "ANTREAN_VAR_DIR": str(tmp_path)})
    local = upload_store(settings)
    assert isinstance(local, LocalUploadStore) and local.root == tmp_path / "uploads"
    assert upload_store(settings) is local
    on_s3 = replace(settings, uploads=s3_server.upload_settings(s3_bucket))
    remote = upload_store(on_s3)
    assert isinstance(remote, S3UploadStore) and remote.bucket == s3_bucket
    assert upload_store(on_s3) is remote
