"""The square crop the trainer uses, and a contact sheet of them for the user to check."""

from __future__ import annotations

import math
from collections.abc import Sequence

from PIL import Image

_SHEET_BACKGROUND = (255, 255, 255)


def square_crop(image: Image.Image, size: int) -> Image.Image:
    """Centre square crop resized to `size` x `size` with LANCZOS. The trainer uses this very
    function, so the contact sheet shows exactly what the model will learn from."""
    if size < 1:
        raise ValueError(f"crop size must be at least 1 px, got {size}")
    width, height = image.size
    side = min(width, height)
    left = (width - side) // 2
    top = (height - side) // 2
    box = (left, top, left + side, top + side)
    # crop() before resize(): resize(box=...) would let LANCZOS sample pixels outside the box.
    return image.convert("RGB").crop(box).resize((size, size), Image.Resampling.LANCZOS)


def contact_sheet(
    images: Sequence[Image.Image], tile: int = 192, columns: int | None = None
) -> Image.Image:
    """An RGB grid of square crops, `tile` px each, filled row by row. Columns default to a
    near-square layout (ceil of the square root), so 15 photos make a 4x4 grid."""
    if not images:
        raise ValueError("a contact sheet needs at least one image")
    if columns is None:
        columns = math.ceil(math.sqrt(len(images)))
    if columns < 1:
        raise ValueError(f"a contact sheet needs at least one column, got {columns}")
    columns = min(columns, len(images))
    rows = math.ceil(len(images) / columns)
    sheet = Image.new("RGB", (columns * tile, rows * tile), _SHEET_BACKGROUND)
    for index, image in enumerate(images):
        row, column = divmod(index, columns)
        sheet.paste(square_crop(image, tile), (column * tile, row * tile))
    return sheet
