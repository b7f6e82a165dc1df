"""The storage verbs behave the same on every backend: the data dir itself, another folder,
and S3 (moto's real server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.settings import Settings
from engine.storage import LocalStorage, ObjectStorage, Storage, StorageError, open_storage
from tests.s3 import S3Server


@pytest.fixture(params=["data-dir", "folder", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    data = tmp_path / "data"
    fields: dict[str, str] = {}
    if request.param == "folder":
        fields["storage"] = str(tmp_path / "shared")
    elif request.param == "s3":
        server: S3Server = request.getfixturevalue("s3_server")
        fields = server.settings_fields(f"s3://{server.new_bucket()}/petbooth")
    return open_storage(Settings(data_dir=data, **fields))  # type: ignore[arg-type]


def test_default_storage_is_the_data_dir(tmp_path: Path) -> None:
    storage = open_storage(Settings(data_dir=tmp_path))
    assert isinstance(storage, LocalStorage) and storage.root == tmp_path
    photo = tmp_path / "subjects" / "1-ab" / "photos" / "0.jpg"
    photo.parent.mkdir(parents=True)
    photo.write_bytes(b"jpeg")
    assert storage.publish(photo) == "subjects/1-ab/photos/0.jpg"
    assert storage.fetch("subjects/1-ab/photos/0.jpg") == photo


def test_put_get_exists_delete(storage: Storage) -> None:
    assert storage.get("jobs/1/state.json") is None
    assert not storage.exists("jobs/1/state.json")
    storage.put("jobs/1/state.json", b"{}")
    assert storage.exists("jobs/1/state.json")
    assert storage.get("jobs/1/state.json") == b"{}"
    storage.delete(["jobs/1/state.json", "jobs/1/never-written"])
    assert not storage.exists("jobs/1/state.json")


def test_list_is_by_folder_not_by_string_prefix(storage: Storage) -> None:
    for key in ("jobs/1/a.png", "jobs/1/previews/step-000010.png", "jobs/12/a.png"):
        storage.put(key, b"x")
    assert storage.list_keys("jobs/1") == ["jobs/1/a.png", "jobs/1/previews/step-000010.png"]
    assert storage.list_keys("jobs/2") == []


def test_publish_then_fetch_into_an_empty_cache(storage: Storage, tmp_path: Path) -> None:
    folder = storage.cache_dir / "jobs" / "3" / "checkpoints" / "step-000010"
    folder.mkdir(parents=True)
    (folder / "state.json").write_text('{"step": 10}')
    (folder / "optimizer.pt").write_bytes(bytes(range(256)) * 100)
    assert storage.publish(folder) == "jobs/3/checkpoints/step-000010"
    other = _sharing(storage, tmp_path / "other-cache")
    keys = other.list_keys("jobs/3")
    assert [Path(k).name for k in keys] == ["optimizer.pt", "state.json"]
    assert all(other.fetch(k) is not None for k in keys)
    assert (other.cache_dir / "jobs/3/checkpoints/step-000010/optimizer.pt").read_bytes() == (
        bytes(range(256)) * 100
    )
    assert other.fetch("jobs/3/missing.png") is None


def test_delete_folder_removes_keys_and_cached_copies(storage: Storage) -> None:
    storage.put("outputs/5/image-0.png", b"png")
    storage.put("outputs/55/image-0.png", b"png")
    assert storage.fetch("outputs/5/image-0.png") is not None
    storage.delete_folder("outputs/5")
    assert storage.list_keys("outputs/5") == []
    assert not (storage.cache_dir / "outputs" / "5").exists()
    assert storage.exists("outputs/55/image-0.png")


@pytest.mark.parametrize("key", ["", "/etc/passwd", "../x", "jobs/../../x", "jobs//x", "."])
def test_keys_never_escape_the_store(storage: Storage, key: str) -> None:
    with pytest.raises(StorageError):
        storage.put(key, b"x")


def _sharing(storage: Storage, cache: Path) -> Storage:
    """The same store seen from another machine: its own, empty local cache."""
    if isinstance(storage, ObjectStorage):
        return ObjectStorage(storage.store, cache, storage.describe)
    assert isinstance(storage, LocalStorage)
    return LocalStorage(storage.root, cache_dir=cache)


def test_forget_removed_deletes_only_what_was_pruned_here(storage: Storage) -> None:
    for step in ("step-000002", "step-000004", "step-000006"):
        for name in ("optimizer.pt", "pytorch_lora_weights.safetensors"):
            storage.put(f"jobs/1/checkpoints/{step}/{name}", b"x")
    cached = storage.cache_path("jobs/1/checkpoints/step-000004/optimizer.pt")
    assert storage.fetch("jobs/1/checkpoints/step-000004/optimizer.pt") == cached
    assert storage.fetch("jobs/1/checkpoints/step-000002/optimizer.pt") is not None
    storage.cache_path("jobs/1/checkpoints/step-000002/optimizer.pt").unlink()  # pruned

    storage.forget_removed("jobs/1/checkpoints", ("optimizer.pt",))

    assert storage.list_keys("jobs/1/checkpoints") == [
        # step 2's LoRA stays (not a pruned name), step 6 was never in this cache
        "jobs/1/checkpoints/step-000002/pytorch_lora_weights.safetensors",
        "jobs/1/checkpoints/step-000004/optimizer.pt",
        "jobs/1/checkpoints/step-000004/pytorch_lora_weights.safetensors",
        "jobs/1/checkpoints/step-000006/optimizer.pt",
        "jobs/1/checkpoints/step-000006/pytorch_lora_weights.safetensors",
    ]
