"""Aspect-ratio buckets: each photo trains whole but for a sliver, at SDXL's own shapes."""

from __future__ import annotations

from PIL import Image

from engine.intake import contact_sheet, frame
from engine.intake.crops import SDXL_BUCKETS_1024, Bucket, buckets_for, fit_in_square

RED = (255, 0, 0)


def test_at_1024_the_buckets_are_sdxls_in_both_orientations() -> None:
    buckets = {(b.width, b.height) for b in buckets_for(1024)}
    published = {*SDXL_BUCKETS_1024, *((h, w) for w, h in SDXL_BUCKETS_1024)}
    assert buckets == published
    assert all(side % 64 == 0 for bucket in buckets for side in bucket)


def test_at_other_resolutions_sides_stay_multiples_of_64_without_duplicates() -> None:
    for resolution in (64, 128, 512, 768):
        buckets = buckets_for(resolution)
        sides = [(b.width, b.height) for b in buckets]
        assert len(sides) == len(set(sides))
        assert all(side % 64 == 0 and side >= 64 for pair in sides for side in pair)
    assert buckets_for(64) == [Bucket(64, 128), Bucket(64, 64), Bucket(128, 64)]


def test_each_photo_gets_the_bucket_nearest_its_shape() -> None:
    assert frame(Image.new("RGB", (4000, 3000)), 1024).bucket == Bucket(1152, 896)
    assert frame(Image.new("RGB", (3000, 4000)), 1024).bucket == Bucket(896, 1152)
    assert frame(Image.new("RGB", (1600, 900)), 1024).bucket == Bucket(1344, 768)
    assert frame(Image.new("RGB", (500, 500)), 1024).bucket == Bucket(1024, 1024)


def test_framing_keeps_a_pet_at_the_edge_that_a_square_crop_loses() -> None:
    photo = Image.new("RGB", (1600, 900), (255, 255, 255))
    photo.paste(RED, (0, 300, 200, 600))  # the pet, at the left edge of a 16:9 photo

    framed = frame(photo, 1024)

    assert framed.image.size == (1344, 768)
    assert framed.original_size == (900, 1600)  # (height, width), as SDXL's time ids want
    top, left = framed.crop_top_left
    assert top == 0 and left <= 11  # a sliver of width is cut, centred
    assert framed.image.getpixel((5, 384)) == RED
    square = photo.crop((350, 0, 1250, 900))  # what a centre square crop keeps
    assert RED not in {square.getpixel((x, 450)) for x in range(0, 900, 10)}


def test_the_contact_sheet_shows_each_framing_whole() -> None:
    framings = [frame(Image.new("RGB", size, RED), 256).image for size in ((400, 300), (90, 90))]

    sheet = contact_sheet(framings, tile=64)

    assert sheet.size == (128, 64)
    assert sheet.crop((0, 0, 64, 64)).tobytes() == fit_in_square(framings[0], 64).tobytes()
    assert sheet.getpixel((32, 2)) == (255, 255, 255)  # letterboxed, not cropped
    assert sheet.getpixel((32, 32)) == RED
