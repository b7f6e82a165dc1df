"""The storage the settings name: PETBOOTH_STORAGE, a local folder or an object store URL."""

from __future__ import annotations

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
    the usual AWS_* (GOOGLE_*, AZURE_*) environment variables, which obstore reads."""
    location = settings.storage.strip()
    if not location:
        return LocalStorage(settings.data_dir)
    if not is_object_store_url(location):
        folder = Path(location.removeprefix("file://")).expanduser()
        return LocalStorage(folder, cache_dir=settings.data_dir)
    from obstore.store import from_url

    config: S3Config = {}
    options: ClientConfig = {}
    if settings.storage_endpoint:
        config["endpoint"] = settings.storage_endpoint
        if settings.storage_endpoint.startswith("http://"):
            options["allow_http"] = True  # a MinIO or test server on the local network
    if settings.storage_region:
        config["region"] = settings.storage_region
    if settings.storage_access_key_id:
        config["access_key_id"] = settings.storage_access_key_id
    if settings.storage_secret_access_key is not None:
        config["secret_access_key"] = settings.storage_secret_access_key.get_secret_value()
    store = from_url(location, config=config or None, client_options=options or None)
    return ObjectStorage(store, settings.data_dir, location)
