"""The S3 path: photos stored through django-storages in a real S3-compatible HTTP server.

moto's ThreadedMotoServer runs in this process on a free local port and speaks the S3 REST
API over HTTP; boto3 (through django-storages) talks to it as it would to any S3-compatible
service. It enforces the bucket's private ACL (an unsigned GET is 403) but does not check
signatures or their expiry, so the tests check that every URL we hand out is presigned with
X-Amz-Expires = ATTACHMENTS_URL_SECONDS; the real service refuses it after that."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from botocore.config import Config
from django.conf import settings as django_settings
from django.utils import timezone
from moto.server import ThreadedMotoServer
from PIL import Image

from services.models import Attachment
from services.retention import purge_personal_data
from tests import records_fixtures
from tests.attachments_fixtures import (
    CAMERA,
    attachments_url,
    jpeg_with_exif,
    pdf_bytes,
    post_files,
    submitted,
    upload,
)

rules = records_fixtures.rules
service = records_fixtures.service

BUCKET = "wwqz-evidence"
ACCESS_KEY = "test-access-key"
SECRET = "test-secret-key"  # the local server's, not a credential


@pytest.fixture(scope="module")
def s3_server():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3(s3_server, settings):
    client = boto3.client(
        "s3",
        endpoint_url=s3_server,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET,
        region_name="us-east-1",
        config=Config(signature_version="s3v4"),
    )
    client.create_bucket(Bucket=BUCKET)
    # The options backend/settings.py builds from ATTACHMENTS_S3_* variables.
    settings.STORAGES = {
        **settings.STORAGES,
        "attachments": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": BUCKET,
                "endpoint_url": s3_server,
                "region_name": "us-east-1",
                "access_key": ACCESS_KEY,
                "secret_key": SECRET,
                "addressing_style": "path",
                "location": "attachments",
                "default_acl": "private",
                "querystring_auth": True,
                "file_overwrite": False,
                "signature_version": "s3v4",
            },
        },
    }
    yield client
    listed = client.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    for item in listed:
        client.delete_object(Bucket=BUCKET, Key=item["Key"])
    client.delete_bucket(Bucket=BUCKET)


def _keys(client) -> list[str]:
    return sorted(o["Key"] for o in client.list_objects_v2(Bucket=BUCKET).get("Contents", []))


def _fetch(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - local server
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, b""


def test_photos_go_to_the_bucket_stripped_and_are_served_presigned(world, client_for, service, s3):
    record = submitted(service, world)
    photo = jpeg_with_exif(
        taken_at=service.request.starts_at, lat=service.request.lat, lng=service.request.lng
    )

    response = post_files(client_for(world.alice.user), record, upload("a.jpg", photo))

    assert response.status_code == 201, response.content
    row = Attachment.objects.get()
    assert _keys(s3) == sorted(
        [f"attachments/{row.file_name}", f"attachments/{row.thumbnail_name}"]
    )
    stored = s3.get_object(Bucket=BUCKET, Key=f"attachments/{row.file_name}")["Body"].read()
    assert CAMERA.encode() not in stored and b"Exif" not in stored
    assert dict(Image.open(io.BytesIO(stored)).getexif()) == {}
    assert row.taken_lat is not None  # read before the strip

    [body] = client_for(world.mary).get(attachments_url(record)).json()
    for url, key in ((body["url"], row.file_name), (body["thumbnail_url"], row.thumbnail_name)):
        query = parse_qs(urlsplit(url).query)
        assert query["X-Amz-Expires"] == [str(django_settings.ATTACHMENTS_URL_SECONDS)]
        assert query["X-Amz-Signature"][0]
        status, content = _fetch(url)
        assert status == 200
        assert content == s3.get_object(Bucket=BUCKET, Key=f"attachments/{key}")["Body"].read()
        # Without the signature the private bucket refuses it.
        bare = url.split("?", 1)[0]
        assert _fetch(bare)[0] == 403


def test_a_refused_upload_leaves_nothing_in_the_bucket(world, client_for, service, s3):
    record = submitted(service, world)
    photo = jpeg_with_exif(
        taken_at=service.request.starts_at, lat=service.request.lat, lng=service.request.lng
    )

    response = post_files(
        client_for(world.alice.user),
        record,
        upload("a.jpg", photo),
        upload("b.jpg", pdf_bytes()),
    )

    assert response.status_code == 415
    assert _keys(s3) == [] and not Attachment.objects.exists()


def test_the_purge_deletes_the_objects(world, client_for, service, s3, settings):
    record = submitted(service, world)
    photo = jpeg_with_exif(
        taken_at=service.request.starts_at, lat=service.request.lat, lng=service.request.lng
    )
    post_files(client_for(world.alice.user), record, upload("a.jpg", photo))
    assert len(_keys(s3)) == 2

    later = timezone.now() + timedelta(days=settings.PERSONAL_DATA_RETENTION_DAYS + 1)
    assert purge_personal_data(now=later).attachments == 1

    assert _keys(s3) == []


def test_the_environment_variables_configure_the_s3_storage(s3_server, s3):
    """A process started with ATTACHMENTS_S3_* (the real settings module, nothing overridden)
    stores through django-storages into the bucket and hands out presigned links."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("ATTACHMENTS_", "AWS_"))},
        "DJANGO_SETTINGS_MODULE": "backend.settings",
        "SECRET_KEY": "test-only-secret-key-for-a-child-process",
        "ATTACHMENTS_S3_BUCKET": BUCKET,
        "ATTACHMENTS_S3_ENDPOINT_URL": s3_server,
        "ATTACHMENTS_S3_REGION": "us-east-1",
        "ATTACHMENTS_S3_ACCESS_KEY_ID": ACCESS_KEY,
        "ATTACHMENTS_S3_SECRET_ACCESS_KEY": SECRET,
        "ATTACHMENTS_S3_ADDRESSING_STYLE": "path",
    }
    script = (
        "import django, json; django.setup()\n"
        "from django.core.files.base import ContentFile\n"
        "from services.attachments.storage import attachment_storage\n"
        "s = attachment_storage()\n"
        "name = s.save('probe.jpg', ContentFile(b'probe'))\n"
        "url = s.url(name, expire=60)\n"
        "print(json.dumps({'name': name, 'backend': type(s).__name__, 'url': url}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    said = json.loads(result.stdout.strip().splitlines()[-1])
    assert said["backend"] == "S3Storage"
    assert _keys(s3) == [f"attachments/{said['name']}"]
    assert parse_qs(urlsplit(said["url"]).query)["X-Amz-Expires"] == ["60"]
    assert _fetch(said["url"]) == (200, b"probe")
