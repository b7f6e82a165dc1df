"""A process's local cache is trimmed to a size when the files live elsewhere: least
recently used first, never what is recent, being written, the database, or only here."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pytest

from engine.settings import Settings
from engine.storage import Storage, open_storage, trim_local_cache
from tests.s3 import S3Server

HOUR = 3600.0


@pytest.fixture(params=["folder", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    """A store that is not the data dir: another folder, or S3 (moto's real server)."""
    return open_storage(_settings(request, tmp_path))


def _settings(request: pytest.FixtureRequest, tmp_path: Path, **fields: object) -> Settings:
    if getattr(request, "param", "s3") == "folder":
        fields["storage"] = str(tmp_path / "shared")
    else:
        server: S3Server = request.getfixturevalue("s3_server")
        fields.update(server.settings_fields(f"s3://{server.new_bucket()}/petbooth"))
    return Settings(data_dir=tmp_path / "data", **fields)  # type: ignore[arg-type]


def _cached(
    storage: Storage, key: str, size: int, hours_ago: float, *, publish: bool = True
) -> Path:
    """A file of `size` bytes in the local cache, last used `hours_ago`, and in the store."""
    path = storage.cache_path(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(os.urandom(size))
    if publish:
        storage.publish(path)
    _age(path, hours_ago)
    return path


def _age(path: Path, hours_ago: float) -> None:
    then = time.time() - hours_ago * HOUR
    os.utime(path, (then, then))


def _left(storage: Storage) -> list[str]:
    return sorted(
        p.relative_to(storage.cache_dir).as_posix()
        for p in storage.cache_dir.rglob("*")
        if p.is_file()
    )


def test_least_recently_used_files_go_first_until_under_the_limit(
    storage: Storage, caplog: pytest.LogCaptureFixture
) -> None:
    _cached(storage, "outputs/1/image-0.png", 1000, hours_ago=5)
    _cached(storage, "jobs/2/previews/step-000100.png", 1000, hours_ago=4)
    _cached(storage, "outputs/3/image-0.png", 1000, hours_ago=3)
    _cached(storage, "subjects/4-ab/photos/0.jpg", 1000, hours_ago=2)

    with caplog.at_level(logging.INFO, logger="engine.storage"):
        trimmed = storage.trim_cache(2500, keep_newer_than_seconds=HOUR)

    assert (trimmed.files, trimmed.bytes) == (2, 2000)
    assert _left(storage) == ["outputs/3/image-0.png", "subjects/4-ab/photos/0.jpg"]
    # emptied folders go too; the store keeps every file
    assert sorted(p.name for p in storage.cache_dir.iterdir()) == ["outputs", "subjects"]
    assert not (storage.cache_dir / "outputs" / "1").exists()
    assert storage.exists("outputs/1/image-0.png")
    assert storage.exists("jobs/2/previews/step-000100.png")
    assert [r.getMessage() for r in caplog.records if "trimmed" in r.getMessage()] == [
        f"trimmed the local cache {storage.cache_dir.resolve()}: 2 files, 0.0 MB"
    ]

    assert storage.trim_cache(2500, keep_newer_than_seconds=HOUR).files == 0  # under it now


def test_files_used_within_the_keep_window_stay_over_the_limit(storage: Storage) -> None:
    _cached(storage, "outputs/1/image-0.png", 1000, hours_ago=2)
    _cached(storage, "jobs/2/checkpoints/step-000100/state.json", 1000, hours_ago=0.5)
    _cached(storage, "outputs/3/image-0.png", 1000, hours_ago=0)

    trimmed = storage.trim_cache(0, keep_newer_than_seconds=HOUR)

    assert trimmed.files == 1
    assert _left(storage) == ["jobs/2/checkpoints/step-000100/state.json", "outputs/3/image-0.png"]


def test_a_fetch_counts_as_a_use(storage: Storage) -> None:
    oldest = _cached(storage, "outputs/1/image-0.png", 1000, hours_ago=3)
    _cached(storage, "outputs/2/image-0.png", 1000, hours_ago=2)

    written = oldest.stat().st_mtime_ns
    assert storage.fetch("outputs/1/image-0.png") == oldest
    # marked in its atime: the mtime, which the engine's LoRA cache keys on, is kept
    assert oldest.stat().st_mtime_ns == written
    storage.trim_cache(1000, keep_newer_than_seconds=HOUR)

    assert _left(storage) == ["outputs/1/image-0.png"]


def test_files_only_in_the_cache_stay(storage: Storage) -> None:
    _cached(storage, "jobs/2/checkpoints/step-000100/optimizer.pt", 1000, 3, publish=False)
    _cached(storage, "outputs/1/image-0.png", 1000, hours_ago=2)
    temporary = storage.cache_path("outputs/5/.tmp-image-0.png-123")
    temporary.parent.mkdir(parents=True)
    temporary.write_bytes(b"x" * 1000)
    _age(temporary, 3)

    trimmed = storage.trim_cache(0, keep_newer_than_seconds=HOUR)

    assert trimmed.files == 1
    assert _left(storage) == [
        "jobs/2/checkpoints/step-000100/optimizer.pt",
        "outputs/5/.tmp-image-0.png-123",
    ]


def test_a_trimmed_file_is_fetched_again_on_demand(storage: Storage) -> None:
    path = _cached(storage, "loras/7/pytorch_lora_weights.safetensors", 5000, hours_ago=2)
    stored = path.read_bytes()
    _age(path, hours_ago=2)  # the read above was a use too, where the disk keeps atimes

    assert storage.trim_cache(0, keep_newer_than_seconds=HOUR).files == 1
    assert not path.exists()

    assert storage.fetch("loras/7/pytorch_lora_weights.safetensors") == path
    assert path.read_bytes() == stored


def test_the_data_dir_as_the_store_is_never_trimmed(tmp_path: Path) -> None:
    storage = open_storage(Settings(data_dir=tmp_path / "data"))
    path = _cached(storage, "outputs/1/image-0.png", 1000, hours_ago=5)

    assert storage.trim_cache(0, keep_newer_than_seconds=HOUR).files == 0
    assert path.is_file()
    storage.fetch("outputs/1/image-0.png")
    assert path.stat().st_atime < time.time() - 4 * HOUR  # nor marked used: nothing to trim


def test_the_setting_spares_the_database_and_zero_means_no_limit(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    # 3 KiB: one picture fits; so would two, were the 8 KB database counted against it
    settings = _settings(request, tmp_path, storage_cache_limit_gib=3 * 1024 / 1024**3)
    storage = open_storage(settings)
    for suffix in ("", "-wal", "-shm"):
        database = settings.database_path.with_name(settings.database_path.name + suffix)
        database.parent.mkdir(parents=True, exist_ok=True)
        database.write_bytes(b"x" * 8000)
        _age(database, 10)
    _cached(storage, "outputs/1/image-0.png", 1000, hours_ago=3)
    _cached(storage, "outputs/2/image-0.png", 1000, hours_ago=2)

    assert trim_local_cache(settings.model_copy(update={"storage_cache_limit_gib": 0})).files == 0
    assert trim_local_cache(settings).files == 0

    _cached(storage, "outputs/3/image-0.png", 2500, hours_ago=2.5)
    assert trim_local_cache(settings).files == 2  # 1, then 3: 4,500 bytes were over 3,072
    assert _left(storage) == [
        "outputs/2/image-0.png",
        "petbooth.sqlite3",
        "petbooth.sqlite3-shm",
        "petbooth.sqlite3-wal",
    ]
