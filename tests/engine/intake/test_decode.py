"""Bytes to a training-ready RGB image, tested on real encoded files made with Pillow."""

from __future__ import annotations

import warnings

import pytest
from PIL import Image

from engine.intake import IntakeLimits, Upload, validate_uploads
from tests.engine.intake._helpers import ONE_PHOTO_IS_ENOUGH, only_rejection, validate_one
from tests.samples import encode, jpeg, png_header, scene


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_accepts_supported_formats_as_rgb(fmt: str) -> None:
    result = validate_one(f"rex.{fmt.lower()}", encode(scene(1), fmt))

    assert result.ok and not result.rejected
    [photo] = result.accepted
    assert photo.image.mode == "RGB"
    assert (photo.width, photo.height) == photo.image.size == (640, 576)
    assert photo.source_name == f"rex.{fmt.lower()}"


def test_rejects_a_file_that_is_not_an_image() -> None:
    result = validate_one("notes.jpg", b"these are not the pixels you are looking for" * 10)

    assert only_rejection(result) == ("notes.jpg", "not an image (could not decode)")


def test_rejects_a_truncated_jpeg() -> None:
    data = jpeg(2)
    result = validate_one("cut.jpg", data[: len(data) // 2])

    name, reason = only_rejection(result)
    assert name == "cut.jpg" and "damaged image" in reason


def test_names_an_unsupported_image_format() -> None:
    result = validate_one("anim.gif", encode(scene(3), "GIF"))

    assert only_rejection(result)[1] == (
        "unsupported image format GIF; send JPEG, PNG, WebP, HEIC or AVIF"
    )


def test_rejects_an_oversized_file_before_decoding() -> None:
    data = b"\xff\xd8" + bytes(int(31.2 * 1024 * 1024))  # a JPEG start, then nothing decodable

    result = validate_one("huge.jpg", data, IntakeLimits())

    assert only_rejection(result)[1] == "file too large: 31.2 MB, limit 25 MB"


def test_decompression_bomb_is_rejected_from_its_header() -> None:
    before = Image.MAX_IMAGE_PIXELS
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = validate_uploads(
            [
                Upload("bomb.png", png_header(12_000, 12_000)),  # Pillow only warns
                Upload("megabomb.png", png_header(20_000, 20_000)),  # Pillow refuses
            ],
            ONE_PHOTO_IS_ENOUGH,
        )

    # The header has (almost) no pixels behind it: "image too large" (not "damaged") proves the size
    # was checked before any decoding was attempted.
    assert [r.reason for r in result.rejected] == [
        "image too large: 12000x12000 pixels (decompression-bomb guard)",
        "image too large (decompression-bomb guard)",
    ]
    assert not [w for w in caught if issubclass(w.category, Image.DecompressionBombWarning)]
    assert before == Image.MAX_IMAGE_PIXELS


def test_our_pixel_limit_applies_below_pillows() -> None:
    limits = IntakeLimits(min_photos=1, max_image_pixels=300_000)

    result = validate_one("big.jpg", jpeg(4, (640, 576)), limits)

    assert only_rejection(result)[1] == "image too large: 640x576 pixels (decompression-bomb guard)"


def test_applies_exif_orientation() -> None:
    # Stored 900 wide x 600 tall: red left half, blue right half. Orientation 6 means "rotate
    # 90 degrees clockwise to display", so the red half ends up on top.
    stored = Image.new("RGB", (900, 600), (0, 0, 255))
    stored.paste((255, 0, 0), (0, 0, 450, 600))
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encode(stored, "JPEG", quality=95, exif=exif.tobytes())

    [photo] = validate_one("sideways.jpg", data).accepted

    assert (photo.width, photo.height) == (600, 900)
    red, _, blue = photo.image.getpixel((300, 100))
    assert red > 200 and blue < 60
    red, _, blue = photo.image.getpixel((300, 800))
    assert red < 60 and blue > 200


def test_rejects_a_photo_with_a_short_side_under_the_minimum() -> None:
    result = validate_one("tiny.jpg", jpeg(5, (700, 300)))

    assert only_rejection(result)[1] == "too small: 700x300, need at least 512 px on the short side"


def test_downscales_so_the_long_side_is_at_most_2048() -> None:
    [photo] = validate_one("large.jpg", jpeg(6, (3000, 1500))).accepted

    assert (photo.width, photo.height) == (2048, 1024)


def test_composites_alpha_on_white() -> None:
    image = Image.new("RGBA", (600, 600), (0, 0, 0, 0))
    image.paste((200, 0, 0, 255), (0, 0, 300, 600))

    [photo] = validate_one("cutout.png", encode(image, "PNG")).accepted

    assert photo.image.getpixel((450, 300)) == (255, 255, 255)
    assert photo.image.getpixel((150, 300)) == (200, 0, 0)


@pytest.mark.parametrize(
    ("mode", "fmt"), [("P", "PNG"), ("LA", "PNG"), ("L", "JPEG"), ("CMYK", "JPEG")]
)
def test_converts_other_modes_to_rgb(mode: str, fmt: str) -> None:
    [photo] = validate_one(f"odd.{fmt.lower()}", encode(scene(7).convert(mode), fmt)).accepted

    assert photo.image.mode == "RGB"


def test_scales_sixteen_bit_grey_instead_of_clipping() -> None:
    data = encode(Image.new("I;16", (600, 600), 32768), "PNG")

    [photo] = validate_one("deep.png", data).accepted

    assert photo.image.getpixel((10, 10)) == (128, 128, 128)
