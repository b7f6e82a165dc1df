"""A .zip of photos, unpacked without trusting its names or its declared sizes."""

from __future__ import annotations

import struct

import pytest

from engine.intake import IntakeLimits
from tests.engine.intake._helpers import only_rejection, validate_one
from tests.samples import encode, jpeg, scene, zip_of


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
