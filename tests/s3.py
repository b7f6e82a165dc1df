"""A real S3 server for tests: moto's, in a thread on 127.0.0.1 at a free port."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import obstore
from obstore.store import S3Store

ACCESS_KEY = "testing"  # moto takes any credentials
SECRET_KEY = "testing"
REGION = "us-east-1"


@dataclass(frozen=True)
class S3Server:
    endpoint: str

    def new_bucket(self) -> str:
        """A fresh, empty bucket (moto creates it on the first PUT of CreateBucket)."""
        import urllib.request

        name = f"pb-{uuid.uuid4().hex[:12]}"
        request = urllib.request.Request(f"{self.endpoint}/{name}", method="PUT")
        with urllib.request.urlopen(request) as response:
            assert response.status == 200
        return name

    def env(self, url: str) -> dict[str, str]:
        """The PETBOOTH_* variables that point a petbooth process at `url` on this server."""
        return {
            "PETBOOTH_STORAGE": url,
            "PETBOOTH_STORAGE_ENDPOINT": self.endpoint,
            "PETBOOTH_STORAGE_REGION": REGION,
            "PETBOOTH_STORAGE_ACCESS_KEY_ID": ACCESS_KEY,
            "PETBOOTH_STORAGE_SECRET_ACCESS_KEY": SECRET_KEY,
        }

    def settings_fields(self, url: str) -> dict[str, str]:
        return {k.removeprefix("PETBOOTH_").lower(): v for k, v in self.env(url).items()}

    def store(self, bucket: str) -> S3Store:
        """An obstore client of `bucket`, to look at what the processes under test wrote."""
        return S3Store(
            bucket,
            endpoint=self.endpoint,
            region=REGION,
            access_key_id=ACCESS_KEY,
            secret_access_key=SECRET_KEY,
            client_options={"allow_http": True},
        )

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        listing = obstore.list(self.store(bucket), prefix or None)
        return sorted(m["path"] for chunk in listing for m in chunk)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def running_s3() -> Iterator[S3Server]:
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield S3Server(f"http://127.0.0.1:{port}")
    finally:
        server.stop()
