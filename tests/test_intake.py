"""Photo intake, tested on real encoded files made with Pillow (no fixtures on disk)."""

from __future__ import annotations

import struct
import subprocess
import sys
import warnings
import zlib
from pathlib import Path

import pytest
from PIL import Image

from engine.intake import (
    AcceptedPhoto,
    IntakeLimits,
    IntakeResult,
    Upload,
    contact_sheet,
    sanitize_display_name,
    save_photos,
    square_crop,
    validate_uploads,
)
from engine.settings import Settings
from tests.samples import encode, jpeg, scene, zip_of

ONE_PHOTO_IS_ENOUGH = IntakeLimits(min_photos=1, recommended_min_photos=1)
REPO_ROOT = Path(__file__).resolve().parents[1]


# --- sample files -------------------------------------------------------------------------


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height, with no pixel data behind it."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"") + chunk(b"IEND", b"")


def only_rejection(result: IntakeResult) -> tuple[str, str]:
    assert len(result.rejected) == 1, result.rejected
    return result.rejected[0].filename, result.rejected[0].reason


def validate_one(filename: str, data: bytes, limits: IntakeLimits = ONE_PHOTO_IS_ENOUGH):
    return validate_uploads([Upload(filename, data)], limits)


# --- decoding -----------------------------------------------------------------------------


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

    assert only_rejection(result)[1] == "unsupported image format GIF; send JPEG, PNG or WEBP"


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
                Upload("bomb.png", png_header_only(12_000, 12_000)),  # Pillow only warns
                Upload("megabomb.png", png_header_only(20_000, 20_000)),  # Pillow refuses
            ],
            ONE_PHOTO_IS_ENOUGH,
        )

    # The header has no pixels behind it: "image too large" (not "damaged") proves the size
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


# --- duplicates ---------------------------------------------------------------------------


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


# --- zip archives -------------------------------------------------------------------------


def test_expands_a_zip_in_archive_order_skipping_system_files() -> None:
    archive = zip_of(
        [
            ("thor/", b""),
            ("thor/IMG_2.jpg", jpeg(10)),
            ("__MACOSX/thor/._IMG_2.jpg", b"resource fork"),
            ("thor/.DS_Store", b"finder"),
            ("thor/IMG_1.jpg", jpeg(11)),
            ("./IMG_3.png", encode(scene(12), "PNG")),
        ]
    )

    result = validate_one("thor.zip", archive)

    assert [p.source_name for p in result.accepted] == [
        "thor.zip/IMG_2.jpg",
        "thor.zip/IMG_1.jpg",
        "thor.zip/IMG_3.png",
    ]
    assert not result.rejected


def test_recognises_a_zip_by_its_bytes_not_its_name() -> None:
    result = validate_one("photos.jpg", zip_of([("a.jpg", jpeg(13))]))

    assert [p.source_name for p in result.accepted] == ["photos.jpg/a.jpg"]


@pytest.mark.parametrize(
    "member", ["../evil.jpg", "/etc/evil.jpg", "C:/evil.jpg", "..\\..\\evil.jpg", "a/../../x.jpg"]
)
def test_rejects_zip_members_that_escape_the_archive(member: str) -> None:
    result = validate_one("pets.zip", zip_of([(member, jpeg(14)), ("ok.jpg", jpeg(15))]))

    assert [p.source_name for p in result.accepted] == ["pets.zip/ok.jpg"]
    name, reason = only_rejection(result)
    assert reason == "zip member escapes the archive"
    assert name.startswith("pets.zip/") and ".." not in name and "\\" not in name


@pytest.mark.parametrize("member", ["inner.zip", "innocent.jpg"])
def test_rejects_nested_archives(member: str) -> None:
    result = validate_one("outer.zip", zip_of([(member, zip_of([("a.jpg", jpeg(16))]))]))

    assert only_rejection(result) == (f"outer.zip/{member}", "nested archives are not accepted")


def test_rejects_other_archive_formats_by_their_bytes() -> None:
    result = validate_one("pets.rar", b"Rar!\x1a\x07\x00" + bytes(100))

    assert only_rejection(result)[1] == "RAR archives are not accepted; send a .zip or the photos"


def test_caps_the_number_of_zip_members() -> None:
    limits = IntakeLimits(min_photos=1, max_zip_members=3)
    archive = zip_of([(f"{i}.jpg", b"x") for i in range(4)])

    result = validate_one("many.zip", archive, limits)

    assert only_rejection(result) == ("many.zip", "zip archive has 4 files; at most 3 allowed")


def test_rejects_a_zip_bomb_from_its_declared_sizes_without_unpacking() -> None:
    limits = IntakeLimits(
        min_photos=1, max_file_bytes=2 * 1024 * 1024, max_zip_bytes=3 * 1024 * 1024
    )
    zeros = bytes(2 * 1024 * 1024)  # deflates to about 2 KB each
    bomb = zip_of([("a.jpg", zeros), ("b.jpg", zeros)])
    assert len(bomb) < 20_000

    result = validate_one("bomb.zip", bomb, limits)

    assert only_rejection(result) == (
        "bomb.zip",
        "zip archive too large: unpacks to 4 MB, limit 3 MB",
    )


def test_rejects_an_oversized_zip_member_without_reading_it() -> None:
    limits = IntakeLimits(min_photos=1, max_file_bytes=1024 * 1024)
    archive = zip_of([("big.jpg", bytes(3 * 1024 * 1024)), ("ok.jpg", jpeg(17))])

    result = validate_one("pets.zip", archive, limits)

    assert only_rejection(result) == ("pets.zip/big.jpg", "file too large: 3 MB, limit 1 MB")
    assert len(result.accepted) == 1


def test_a_zip_header_that_lies_about_size_cannot_inflate_a_member() -> None:
    real = jpeg(18)
    archive = bytearray(zip_of([("liar.jpg", real)]))
    # Claim 100 bytes in the central directory (uncompressed size lives at offset 24).
    central = archive.rindex(b"PK\x01\x02")
    archive[central + 24 : central + 28] = struct.pack("<I", 100)

    result = validate_one("liar.zip", bytes(archive))

    assert only_rejection(result) == (
        "liar.zip/liar.jpg",
        "damaged zip member (could not unpack it)",
    )


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"PK\x03\x04" + b"garbage" * 20, "damaged zip archive (could not read it)"),
        (zip_of([]), "zip archive contains no files"),
        (
            zip_of([("__MACOSX/._a.jpg", b"x"), (".hidden.jpg", b"y")]),
            "zip archive contains no files",
        ),
    ],
)
def test_rejects_an_unusable_zip_by_name(data: bytes, reason: str) -> None:
    assert only_rejection(validate_one("pets.zip", data)) == ("pets.zip", reason)


# --- names --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uploaded", "shown"),
    [
        ("../../etc/passwd.jpg", "passwd.jpg"),
        ("C:\\evil\\x.png", "x.png"),
        ("C:x.png", "x.png"),
        ("line\none\r\n.jpg", "line one .jpg"),
        ("gnp.\u202eevil.jpg", "gnp.evil.jpg"),  # a right-to-left override could fake the extension
        ("..", "unnamed file"),
        ("", "unnamed file"),
    ],
)
def test_sanitize_display_name(uploaded: str, shown: str) -> None:
    assert sanitize_display_name(uploaded) == shown


def test_sanitize_display_name_caps_long_names_and_keeps_the_extension() -> None:
    shown = sanitize_display_name("🐶" * 500 + ".jpeg")

    assert len(shown) == 80 and shown.endswith("….jpeg")


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


# --- counting -----------------------------------------------------------------------------


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


def test_limits_come_from_settings() -> None:
    settings = Settings(min_photos=3, max_photos=9, min_photo_side=256, max_zip_members=7)

    limits = IntakeLimits.from_settings(settings)

    assert (limits.min_photos, limits.max_photos, limits.min_side) == (3, 9, 256)
    assert limits.max_zip_members == 7 and limits.max_file_bytes == settings.max_file_bytes


# --- crops --------------------------------------------------------------------------------


def test_square_crop_takes_the_centre() -> None:
    image = Image.new("RGB", (900, 600), (0, 0, 255))
    image.paste((255, 0, 0), (150, 0, 750, 600))  # the centre 600x600 is red

    crop = square_crop(image, 256)

    assert crop.size == (256, 256)
    assert crop.getpixel((0, 0)) == crop.getpixel((255, 255)) == (255, 0, 0)


def test_contact_sheet_is_a_grid_of_square_tiles() -> None:
    images = [scene(seed, (300 + 40 * seed, 400)) for seed in range(5)]

    sheet = contact_sheet(images, tile=64)

    assert sheet.mode == "RGB" and sheet.size == (3 * 64, 2 * 64)
    assert contact_sheet(images, tile=32, columns=5).size == (160, 32)
    assert sheet.crop((0, 0, 64, 64)).tobytes() == square_crop(images[0], 64).tobytes()


# --- imports ------------------------------------------------------------------------------


def test_importing_intake_does_not_import_torch() -> None:
    code = "import sys, engine.intake; sys.exit('torch' in sys.modules)"

    completed = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, check=False)

    assert completed.returncode == 0, "engine.intake imported torch"
