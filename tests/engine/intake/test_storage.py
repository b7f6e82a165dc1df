"""Accepted photos written to disk under names we chose."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from engine.intake import AcceptedPhoto, Upload, save_photos, validate_uploads
from tests.engine.intake._helpers import ONE_PHOTO_IS_ENOUGH
from tests.samples import encode, jpeg, scene


def test_stored_names_are_ours_and_saving_stays_in_the_directory(tmp_path: Path) -> None:
    uploads = [
        Upload("../../etc/passwd.jpg", jpeg(19)),
        Upload("C:\\evil\\x.png", encode(scene(20), "PNG")),
        Upload("a\nb.jpg", jpeg(21)),
    ]
    result = validate_uploads(uploads, ONE_PHOTO_IS_ENOUGH)
    photos_dir = tmp_path / "subject" / "photos"

    saved = save_photos(result.accepted, photos_dir)

    expected = [f"photo-{i + 1:02d}-{p.sha256[:8]}.jpg" for i, p in enumerate(result.accepted)]
    assert [p.stored_name for p in result.accepted] == expected
    assert [path.name for path, _ in saved] == expected
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == sorted(expected)
    for path, size in saved:
        assert path.parent == photos_dir and path.stat().st_size == size
        with Image.open(path) as written:
            assert written.format == "JPEG" and written.size == (640, 576)


def test_save_photos_refuses_a_name_intake_did_not_make(tmp_path: Path) -> None:
    forged = AcceptedPhoto("x.jpg", "../escape.jpg", "0" * 64, scene(22), 640, 576)

    with pytest.raises(ValueError, match="unexpected name"):
        save_photos([forged], tmp_path / "photos")
    assert not (tmp_path / "escape.jpg").exists()
