"""Phone photos: HEIC/HEIF (the iPhone default) and AVIF, real files encoded in the test,
accepted with their EXIF rotation applied and stored as JPEGs like every other photo; and
an empty upload called empty."""

from __future__ import annotations

import io
from pathlib import Path

import pillow_heif
import pytest
from PIL import Image

from engine.intake import IntakeLimits, save_photos
from tests.engine.intake._helpers import ONE_PHOTO_IS_ENOUGH, only_rejection, validate_one
from tests.samples import jpeg, scene, zip_of

BLUE = (0, 0, 255)
ROTATE_90_CW = 6  # EXIF Orientation: the camera was turned; display rotated 90° clockwise


def heic(image: Image.Image, exif: bytes | None = None) -> bytes:
    """HEVC in a HEIF container (brand "heic"), as an iPhone writes it; pillow-heif's own
    writer, so the reader under test is the only thing that registers with Pillow."""
    buffer = io.BytesIO()
    pillow_heif.from_pillow(image).save(buffer, quality=90, exif=exif)
    return buffer.getvalue()


def avif(image: Image.Image, exif: bytes | None = None) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "AVIF", quality=90, **({"exif": exif} if exif else {}))
    return buffer.getvalue()


ENCODERS = {"heic": heic, "heif": heic, "avif": avif}


def landscape_with_blue_corner() -> Image.Image:
    """640x576, the top-left corner blue: where the corner ends up shows the rotation."""
    image = Image.new("RGB", (640, 576), (220, 200, 40))
    image.paste(BLUE, (0, 0, 160, 160))
    return image


def rotated_exif() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = ROTATE_90_CW
    return exif.tobytes()


def is_blue(pixel: tuple[int, ...]) -> bool:
    red, green, blue = pixel[:3]
    return blue > 200 and red < 60 and green < 60


def test_heic_files_start_like_an_iphones() -> None:
    assert heic(scene(1))[4:12] == b"ftypheic"


@pytest.mark.parametrize("extension", sorted(ENCODERS))
def test_phone_formats_are_accepted_as_rgb(extension: str) -> None:
    data = ENCODERS[extension](scene(1))

    result = validate_one(f"IMG_0001.{extension}", data)

    assert result.ok and not result.rejected
    [photo] = result.accepted
    assert photo.image.mode == "RGB"
    assert (photo.width, photo.height) == photo.image.size == (640, 576)
    assert photo.source_name == f"IMG_0001.{extension}"


@pytest.mark.parametrize("extension", ["heic", "avif"])
def test_exif_orientation_of_a_phone_photo_is_applied_once(extension: str) -> None:
    data = ENCODERS[extension](landscape_with_blue_corner(), exif=rotated_exif())

    [photo] = validate_one(f"portrait.{extension}", data).accepted

    # Turned 90° clockwise: a portrait, the blue corner now top-right (not rotated twice,
    # which would put it bottom-right, nor left as stored, top-left).
    assert photo.image.size == (576, 640)
    assert is_blue(photo.image.getpixel((576 - 20, 20)))
    assert not is_blue(photo.image.getpixel((20, 20)))
    assert not is_blue(photo.image.getpixel((576 - 20, 640 - 20)))


@pytest.mark.parametrize("extension", ["heic", "avif"])
def test_phone_photos_are_stored_as_plain_jpegs(extension: str, tmp_path: Path) -> None:
    data = ENCODERS[extension](landscape_with_blue_corner(), exif=rotated_exif())
    result = validate_one(f"IMG_0002.{extension}", data)

    [(path, _size)] = save_photos(result.accepted, tmp_path / "photos")

    assert path.suffix == ".jpg" and path.read_bytes()[:2] == b"\xff\xd8"
    with Image.open(path) as stored:
        assert stored.format == "JPEG" and stored.size == (576, 640)  # rotated, upright
        assert 0x0112 not in stored.getexif()  # no Orientation tag to rotate it again


def test_phone_photos_inside_a_zip_are_accepted() -> None:
    archive = zip_of([("a.heic", heic(scene(2))), ("b.avif", avif(scene(3)))])

    result = validate_one("phone.zip", archive)

    assert [p.source_name for p in result.accepted] == ["phone.zip/a.heic", "phone.zip/b.avif"]


def test_an_empty_upload_is_called_empty() -> None:
    result = validate_one("IMG_0003.heic", b"")

    assert only_rejection(result) == ("IMG_0003.heic", "file is empty (0 bytes); upload it again")


def test_an_empty_zip_member_is_called_empty() -> None:
    archive = zip_of([("ok.jpg", jpeg(4)), ("empty.jpg", b"")])

    result = validate_one("pets.zip", archive, IntakeLimits(min_photos=1))

    assert only_rejection(result) == (
        "pets.zip/empty.jpg",
        "file is empty (0 bytes); upload it again",
    )


def test_a_truncated_heic_is_damaged_not_accepted() -> None:
    data = heic(scene(5))

    result = validate_one("cut.heic", data[: len(data) // 2], ONE_PHOTO_IS_ENOUGH)

    name, reason = only_rejection(result)
    assert name == "cut.heic" and "damaged image" in reason
