"""The storage the settings name: PETBOOTH_STORAGE, a local folder or an object store URL."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

from engine.storage.base import Storage
from engine.storage.local import LocalStorage
from engine.storage.objects import ObjectStorage

if TYPE_CHECKING:
    from obstore.store import ClientConfig, S3Config

    from engine.settings import Settings

# Object store schemes obstore opens; anything else is a local folder. (Not memory://: each
# process, and each open_storage call, would see its own empty store.)
OBJECT_STORE_SCHEMES = ("s3://", "s3a://", "gs://", "az://", "abfs://", "abfss://")


def is_object_store_url(location: str) -> bool:
    return location.lower().startswith(OBJECT_STORE_SCHEMES)


def open_storage(settings: Settings) -> Storage:
    """The data dir (the default), another local folder, or an object store with the data
    dir as its local cache. Endpoint and credentials: the PETBOOTH_STORAGE_* settings, else
    the usual AWS_* (GOOGLE_*, AZURE_*) environment variables, which obstore reads.

    One per distinct configuration and process: an object store's client (its connection
    pool, its credentials) is made once, not for every file a job or a delivery touches."""
    secret = settings.storage_secret_access_key
    return _open(
        settings.storage.strip(),
        settings.data_dir,
        settings.storage_endpoint,
        settings.storage_region,
        settings.storage_access_key_id,
        secret.get_secret_value() if secret is not None else None,
    )


@functools.lru_cache(maxsize=16)
def _open(
    location: str,
    data_dir: Path,
    endpoint: str | None,
    region: str | None,
    access_key_id: str | None,
    secret_access_key: str | None,
) -> Storage:
    if not location:
        return LocalStorage(data_dir)
    if not is_object_store_url(location):
        folder = Path(location.removeprefix("file://")).expanduser()
        return LocalStorage(folder, cache_dir=data_dir)
    from obstore.store import from_url

    config: S3Config = {}
    options: ClientConfig = {}
    if endpoint:
        config["endpoint"] = endpoint
        if endpoint.startswith("http://"):
            options["allow_http"] = True  # a MinIO or test server on the local network
    if region:
        config["region"] = region
    if access_key_id:
        config["access_key_id"] = access_key_id
    if secret_access_key is not None:
        config["secret_access_key"] = secret_access_key
    store = from_url(location, config=config or None, client_options=options or None)
    return ObjectStorage(store, data_dir, location)
