"""Uploads in an S3-compatible bucket (moto's server): stored privately, read back, probed."""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from starlette.testclient import TestClient

from portal.app import create_app
from portal.form.fields import UploadError
from portal.form.models import Submission
from portal.form.s3_uploads import HEALTH_SECONDS, S3UploadStore
from portal.form.uploads import MissingUpload, UploadStoreUnavailable, new_file_id, upload_store
from portal.settings import Settings
from tests.support.apps import make_settings
from tests.support.form import FILES, PDF, VALID, csrf, enter_form, hidden
from tests.support.s3 import S3Server

OTHER_PDF = b"%PDF-1.7\n% ijazah\n" + bytes(range(256)) * 8 + b"\n%%EOF\n"


def on_s3(settings: Settings, server: S3Server, bucket: str, **extra: str) -> Settings:
    return replace(settings, uploads=server.upload_settings(bucket, **extra))


def local_pdfs(settings: Settings) -> list[Path]:
    return list(settings.var_dir.rglob("*.pdf"))


def submission_files(database_url: str) -> dict[str, dict[str, object]]:
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as connection:
        data = connection.execute(select(Submission.data)).scalar_one()
    engine.dispose()
    return dict(data["berkas"])


def test_a_pdf_is_a_private_object_under_a_random_key(s3_server: S3Server,
                                                      s3_bucket: str) -> None:
    store = S3UploadStore.from_settings(s3_server.upload_settings(s3_bucket))
    stored = store.save_pdf(PDF, "../../Surat Keputusan.pdf")
    assert stored.name == "Surat Keputusan.pdf" and stored.size == len(PDF)
    assert stored.sha256 == hashlib.sha256(PDF).hexdigest()
    client = s3_server.client()
    keys = [item["Key"] for item in client.list_objects_v2(Bucket=s3_bucket)["Contents"]]
    # The key is the random id under the prefix; the visitor's file name is nowhere in it.
    assert keys == [f"uploads/{stored.id[:2]}/{stored.id}.pdf"]
    head = client.head_object(Bucket=s3_bucket, Key=keys[0])
    assert head["ContentType"] == "application/pdf"
    assert head["Metadata"] == {"sha256": stored.sha256}
    # The SHA-256 went with the request, so the store checked what it received.
    checked = client.head_object(Bucket=s3_bucket, Key=keys[0], ChecksumMode="ENABLED")
    assert checked["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(PDF).digest()).decode()
    grants = client.get_object_acl(Bucket=s3_bucket, Key=keys[0])["Grants"]
    assert [grant["Permission"] for grant in grants] == ["FULL_CONTROL"]
    assert grants[0]["Grantee"]["Type"] == "CanonicalUser"
    assert store.read(stored.id) == PDF and store.exists(stored.id)


def test_a_roster_kept_through_one_machine_is_read_on_another(s3_server: S3Server,
                                                             s3_bucket: str) -> None:
    uploads = s3_server.upload_settings(s3_bucket)
    web, worker = S3UploadStore.from_settings(uploads), S3UploadStore.from_settings(uploads)
    web.keep("roster/abcdefgh1234.csv", b"nik,nama\n")
    keys = [item["Key"] for item in s3_server.client().list_objects_v2(
        Bucket=s3_bucket)["Contents"]]
    assert keys == ["uploads/roster/abcdefgh1234.csv"]
    assert worker.fetch("roster/abcdefgh1234.csv") == b"nik,nama\n"
    worker.discard("roster/abcdefgh1234.csv")
    worker.discard("roster/abcdefgh1234.csv")  # gone already: nothing happens
    with pytest.raises(MissingUpload):
        web.fetch("roster/abcdefgh1234.csv")
    for bad in ("../secret.csv", "roster/../../x.csv", "roster/abc.pdf", "roster/ab.csv"):
        with pytest.raises(ValueError):
            web.keep(bad, b"x")


def test_a_missing_object_or_a_bad_file_is_a_clear_error(s3_server: S3Server,
                                                         s3_bucket: str) -> None:
    store = S3UploadStore.from_settings(
        s3_server.upload_settings(s3_bucket, ANTREAN_S3_PREFIX="bkd/berkas",
                                  ANTREAN_S3_ACL="none"))
    absent = new_file_id()
    with pytest.raises(MissingUpload, match=absent):
        store.read(absent)
    assert not store.exists(absent)
    with pytest.raises(ValueError, match="not a file id"):
        store.read("../../secret_key")
    with pytest.raises(UploadError, match="bukan PDF"):
        store.save_pdf(b"<html>not a pdf</html>", "x.pdf")
    assert s3_server.client().list_objects_v2(Bucket=s3_bucket)["KeyCount"] == 0
    stored = store.save_pdf(OTHER_PDF, "ijazah.pdf")
    key = store.key_of(stored.id)
    assert key.startswith("bkd/berkas/") and store.read(stored.id) == OTHER_PDF
    # No ACL sent (for buckets with ACLs disabled): the object is the owner's alone.
    grants = s3_server.client().get_object_acl(Bucket=s3_bucket, Key=key)["Grants"]
    assert [grant["Permission"] for grant in grants] == ["FULL_CONTROL"]


def test_credentials_may_come_from_the_aws_environment(s3_server: S3Server, s3_bucket: str,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path) -> None:
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    env = s3_server.env(s3_bucket)
    del env["ANTREAN_S3_ACCESS_KEY_ID"], env["ANTREAN_S3_SECRET_ACCESS_KEY"]
    settings = Settings.from_env({**env, "ANTREAN_VAR_DIR": str(tmp_path)}).uploads
    assert settings.s3_access_key_id is None
    without = S3UploadStore.from_settings(settings)
    with pytest.raises(UploadStoreUnavailable, match="NoCredentialsError"):
        without.save_pdf(PDF, "sk.pdf")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "from-the-role")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "from-the-role-secret")
    store = S3UploadStore.from_settings(settings)
    assert store.read(store.save_pdf(PDF, "sk.pdf").id) == PDF


def test_health_asks_the_bucket_at_most_every_few_seconds(own_s3_server: S3Server) -> None:
    bucket = own_s3_server.new_bucket()
    store = S3UploadStore.from_settings(own_s3_server.upload_settings(bucket))
    gone = S3UploadStore.from_settings(own_s3_server.upload_settings("antrean-no-such-bucket"))
    assert store.health(now=100.0) == "ok"
    assert gone.health(now=100.0) == "bucket not found"
    own_s3_server.stop()
    assert store.health(now=100.0 + HEALTH_SECONDS / 2) == "ok"  # the answer of a moment ago
    assert store.health(now=100.0 + HEALTH_SECONDS) == "EndpointConnectionError"
    with pytest.raises(UploadStoreUnavailable, match="EndpointConnectionError") as raised:
        store.save_pdf(PDF, "sk.pdf")
    assert isinstance(raised.value, ConnectionError)  # answered 503 by the app's handler
    with pytest.raises(UploadStoreUnavailable):
        store.read(new_file_id())


def test_readyz_and_uploads_say_unavailable_while_the_bucket_is_down(
        settings: Settings, own_s3_server: S3Server) -> None:
    bucket = own_s3_server.new_bucket()
    node = on_s3(settings, own_s3_server, bucket)
    with TestClient(create_app(node)) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["checks"]["uploads"] == "ok"
        form = enter_form(client)
        own_s3_server.stop()
        refused = client.post("/formulir/berkas", headers={"accept": "application/json"},
                              data={"csrf_token": csrf(form), "jenis": "berkas_sk"},
                              files={"berkas": ("sk.pdf", PDF, "application/pdf")})
        assert refused.status_code == 503 and refused.headers["retry-after"]
        assert refused.json()["error"]["code"] == "unavailable"
        # The whole form with its files: the typed values are kept, the page says "later".
        page = client.post("/formulir", data={
            **VALID, "csrf_token": csrf(form), "submit_key": hidden(form, "submit_key")},
            files=FILES)
        assert page.status_code == 503 and "Coba lagi sebentar lagi" in page.text
    # A node that starts while the bucket is unreachable takes no traffic.
    fresh = replace(node, var_dir=settings.var_dir.parent / "node-b")
    with TestClient(create_app(fresh)) as client:
        ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["uploads"] == "EndpointConnectionError"
    assert not local_pdfs(settings)


def test_upload_and_submit_keep_the_files_in_the_bucket(settings: Settings, database_url: str,
                                                        s3_server: S3Server,
                                                        s3_bucket: str) -> None:
    node = on_s3(settings, s3_server, s3_bucket)
    with TestClient(create_app(node)) as client:
        form = enter_form(client)
        response = client.post("/formulir", data={
            **VALID, "csrf_token": csrf(form), "submit_key": hidden(form, "submit_key")},
            files={**FILES, "berkas_ijazah": ("ijazah.pdf", OTHER_PDF, "application/pdf")})
        assert response.status_code == 200 and "Pendaftaran berhasil" in response.text
    files = submission_files(database_url)
    store = upload_store(node)
    assert store.read(str(files["berkas_sk"]["id"])) == PDF
    assert store.read(str(files["berkas_ijazah"]["id"])) == OTHER_PDF
    assert s3_server.client().list_objects_v2(Bucket=s3_bucket)["KeyCount"] == 2
    assert not local_pdfs(node)


def test_a_draft_uploaded_on_one_node_is_submitted_on_another(
        settings: Settings, database_url: str, redis_url: str, tmp_path: Path,
        s3_server: S3Server, s3_bucket: str) -> None:
    node_a = on_s3(settings, s3_server, s3_bucket)
    # Another machine of the same deployment: its own var directory, the shared services.
    node_b = replace(make_settings(redis_url, database_url, tmp_path / "node-b", max_active=2),
                     secret_key=node_a.secret_key, uploads=node_a.uploads)
    assert node_b.var_dir != node_a.var_dir
    with TestClient(create_app(node_a)) as on_a:
        form = enter_form(on_a)
        for name, (label, data) in {"berkas_sk": ("SK pengangkatan.pdf", PDF),
                                    "berkas_ijazah": ("ijazah.pdf", OTHER_PDF)}.items():
            stored = on_a.post("/formulir/berkas", data={"csrf_token": csrf(form), "jenis": name},
                               files={"berkas": (label, data, "application/pdf")})
            assert stored.status_code == 200 and stored.json()["name"] == label
        cookies = dict(on_a.cookies.items())
    with TestClient(create_app(node_b), cookies=cookies) as on_b:
        again = on_b.get("/formulir")  # the load balancer sent the browser to node B
        assert again.status_code == 200 and "SK pengangkatan.pdf" in again.text
        response = on_b.post("/formulir", data={
            **VALID, "csrf_token": csrf(again.text), "submit_key": hidden(again.text,
                                                                          "submit_key")})
        assert response.status_code == 200 and "Pendaftaran berhasil" in response.text
        assert re.search(r'id="registration-number">REG-', response.text)
    files = submission_files(database_url)
    assert files["berkas_sk"]["name"] == "SK pengangkatan.pdf"
    store_b = upload_store(node_b)
    assert store_b.read(str(files["berkas_sk"]["id"])) == PDF
    assert store_b.read(str(files["berkas_ijazah"]["id"])) == OTHER_PDF
    assert hashlib.sha256(OTHER_PDF).hexdigest() == files["berkas_ijazah"]["sha256"]
    assert not local_pdfs(node_a) and not local_pdfs(node_b)
