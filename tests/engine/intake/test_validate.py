"""validate_uploads: how many photos, and every file accepted or rejected in order."""

from __future__ import annotations

from engine.intake import IntakeLimits, Upload, validate_uploads
from tests.engine.intake._helpers import ONE_PHOTO_IS_ENOUGH
from tests.samples import jpeg, zip_of


def test_too_few_photos_is_a_problem() -> None:
    result = validate_uploads([Upload(f"{i}.jpg", jpeg(i)) for i in range(3)], IntakeLimits())

    assert not result.ok
    assert result.problem == "Only 3 usable photos; at least 5 are needed (10-15 works best)."


def test_too_many_photos_is_a_problem() -> None:
    limits = IntakeLimits(min_photos=1, max_photos=3, recommended_min_photos=1)
    result = validate_uploads([Upload(f"{i}.jpg", jpeg(i)) for i in range(4)], limits)

    assert result.problem == "4 photos; at most 3 are accepted."
    assert len(result.accepted) == 4


def test_fewer_than_recommended_is_a_warning() -> None:
    result = validate_uploads([Upload(f"{i}.jpg", jpeg(30 + i)) for i in range(7)], IntakeLimits())

    assert result.ok
    assert result.warnings == [
        "7 photos accepted; 10-15 varied photos usually give a better likeness."
    ]


def test_every_file_is_accepted_or_rejected_in_input_order() -> None:
    uploads = [
        Upload("a.jpg", jpeg(40)),
        Upload("pets.zip", zip_of([("b.jpg", jpeg(41)), ("c.txt", b"hi"), ("d.jpg", jpeg(42))])),
        Upload("e.jpg", b"nope"),
        Upload("f.jpg", jpeg(40)),
    ]

    first = validate_uploads(uploads, ONE_PHOTO_IS_ENOUGH)
    second = validate_uploads(uploads, ONE_PHOTO_IS_ENOUGH)

    assert [p.source_name for p in first.accepted] == ["a.jpg", "pets.zip/b.jpg", "pets.zip/d.jpg"]
    assert [r.filename for r in first.rejected] == ["pets.zip/c.txt", "e.jpg", "f.jpg"]
    assert first.accepted == second.accepted and first.rejected == second.rejected
