"""The square crop the trainer uses, and the contact sheet of them."""

from __future__ import annotations

from PIL import Image

from engine.intake import contact_sheet, square_crop
from engine.intake.crops import fit_in_square
from tests.samples import scene


def test_square_crop_takes_the_centre() -> None:
    image = Image.new("RGB", (900, 600), (0, 0, 255))
    image.paste((255, 0, 0), (150, 0, 750, 600))  # the centre 600x600 is red

    crop = square_crop(image, 256)

    assert crop.size == (256, 256)
    assert crop.getpixel((0, 0)) == crop.getpixel((255, 255)) == (255, 0, 0)


def test_contact_sheet_is_a_grid_of_square_tiles_showing_each_image_whole() -> None:
    images = [scene(seed, (300 + 40 * seed, 400)) for seed in range(5)]

    sheet = contact_sheet(images, tile=64)

    assert sheet.mode == "RGB" and sheet.size == (3 * 64, 2 * 64)
    assert contact_sheet(images, tile=32, columns=5).size == (160, 32)
    assert sheet.crop((0, 0, 64, 64)).tobytes() == fit_in_square(images[0], 64).tobytes()
