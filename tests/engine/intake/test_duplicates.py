"""The same photo twice: exact copies by their bytes, near copies by how they look."""

from __future__ import annotations

from PIL import Image

from engine.intake import IntakeLimits, Upload, validate_uploads
from tests.engine.intake._helpers import ONE_PHOTO_IS_ENOUGH, only_rejection
from tests.samples import encode, jpeg, scene


def test_drops_an_exact_duplicate_naming_the_original() -> None:
    data = jpeg(8)
    result = validate_uploads(
        [Upload("thor1.jpg", data), Upload("copy.jpg", data)], ONE_PHOTO_IS_ENOUGH
    )

    assert [p.source_name for p in result.accepted] == ["thor1.jpg"]
    assert only_rejection(result) == ("copy.jpg", "duplicate of thor1.jpg")


def test_drops_a_reencoded_resized_copy_as_a_near_duplicate() -> None:
    original = scene(9, (800, 640))
    copy = encode(original.resize((720, 576), Image.Resampling.LANCZOS), "WEBP", quality=70)

    result = validate_uploads(
        [Upload("thor1.jpg", encode(original)), Upload("thor1-small.webp", copy)],
        ONE_PHOTO_IS_ENOUGH,
    )

    assert only_rejection(result) == ("thor1-small.webp", "near-duplicate of thor1.jpg")


def test_keeps_distinct_photos() -> None:
    uploads = [Upload(f"pet{seed}.jpg", jpeg(seed)) for seed in range(12)]

    result = validate_uploads(uploads, IntakeLimits())

    assert len(result.accepted) == 12 and not result.rejected
