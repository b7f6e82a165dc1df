"""The framing the trainer uses (aspect-ratio buckets), and a contact sheet of it.

A centre square crop loses a pet standing at the edge of a landscape photo. Trainers people
prefer (kohya, SimpleTuner, OneTrainer) train each photo at the bucket nearest its aspect
ratio instead, and only crop the sliver that does not fit. SDXL itself was trained on these
buckets (its paper's ~1 MP list), and its `original_size` / `crops_coords_top_left` /
`target_size` conditioning tells the UNet the truth about each one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image

_SHEET_BACKGROUND = (255, 255, 255)
# SDXL's ~1 MP training buckets (width, height) at 1024 px, from the SDXL paper's appendix:
# square, then landscape/portrait pairs up to about 2.4:1.
SDXL_BUCKETS_1024 = (
    (1024, 1024),
    (1152, 896),
    (1216, 832),
    (1344, 768),
    (1536, 640),
)
BUCKET_MULTIPLE = 64  # sides stay multiples of 64 px (8 latent pixels), as SDXL's do


@dataclass(frozen=True)
class Bucket:
    width: int
    height: int

    @property
    def aspect(self) -> float:
        return self.width / self.height


@dataclass(frozen=True)
class Framed:
    """A photo as it trains: the bucket-sized image, and SDXL's micro-conditioning for it."""

    image: Image.Image  # exactly bucket.width x bucket.height
    bucket: Bucket
    original_size: tuple[int, int]  # (height, width) of the photo before resizing
    crop_top_left: tuple[int, int]  # (top, left) of the crop, in the resized photo


def buckets_for(resolution: int) -> list[Bucket]:
    """SDXL's bucket list scaled to `resolution` (1024 -> as published), both orientations,
    sides rounded to multiples of 64, duplicates (small resolutions) removed."""
    scale = resolution / 1024
    found: dict[tuple[int, int], Bucket] = {}
    for width, height in SDXL_BUCKETS_1024:
        for w, h in ((width, height), (height, width)):
            bucket = Bucket(_round_side(w * scale), _round_side(h * scale))
            found.setdefault((bucket.width, bucket.height), bucket)
    return sorted(found.values(), key=lambda b: b.aspect)


def _round_side(value: float) -> int:
    return max(BUCKET_MULTIPLE, round(value / BUCKET_MULTIPLE) * BUCKET_MULTIPLE)


def nearest_bucket(width: int, height: int, resolution: int) -> Bucket:
    """The bucket whose aspect ratio is closest to the photo's (in log space, so 2:1 and
    1:2 are equally far from square); ties go to the squarer bucket."""
    ratio = math.log(width / height)
    return min(
        buckets_for(resolution),
        key=lambda b: (abs(math.log(b.aspect) - ratio), abs(math.log(b.aspect))),
    )


def frame(image: Image.Image, resolution: int) -> Framed:
    """Resize `image` to cover its bucket (LANCZOS), then centre-crop the sliver that sticks
    out. The trainer and the contact sheet both use this, so the sheet shows what trains."""
    photo = image.convert("RGB")
    width, height = photo.size
    bucket = nearest_bucket(width, height, resolution)
    scale = max(bucket.width / width, bucket.height / height)
    resized_w = max(bucket.width, round(width * scale))
    resized_h = max(bucket.height, round(height * scale))
    resized = photo.resize((resized_w, resized_h), Image.Resampling.LANCZOS)
    left = (resized_w - bucket.width) // 2
    top = (resized_h - bucket.height) // 2
    cropped = resized.crop((left, top, left + bucket.width, top + bucket.height))
    return Framed(cropped, bucket, (height, width), (top, left))


def square_crop(image: Image.Image, size: int) -> Image.Image:
    """Centre square crop resized to `size` x `size` with LANCZOS."""
    if size < 1:
        raise ValueError(f"crop size must be at least 1 px, got {size}")
    width, height = image.size
    side = min(width, height)
    left = (width - side) // 2
    top = (height - side) // 2
    box = (left, top, left + side, top + side)
    # crop() before resize(): resize(box=...) would let LANCZOS sample pixels outside the box.
    return image.convert("RGB").crop(box).resize((size, size), Image.Resampling.LANCZOS)


def fit_in_square(image: Image.Image, size: int) -> Image.Image:
    """The whole of `image` scaled to fit a `size` x `size` tile, centred on white."""
    if size < 1:
        raise ValueError(f"tile size must be at least 1 px, got {size}")
    width, height = image.size
    scale = size / max(width, height)
    shown = image.convert("RGB").resize(
        (max(1, round(width * scale)), max(1, round(height * scale))), Image.Resampling.LANCZOS
    )
    tile = Image.new("RGB", (size, size), _SHEET_BACKGROUND)
    tile.paste(shown, ((size - shown.width) // 2, (size - shown.height) // 2))
    return tile


def contact_sheet(
    images: Sequence[Image.Image], tile: int = 192, columns: int | None = None
) -> Image.Image:
    """An RGB grid, `tile` px per image, filled row by row; each image is shown whole
    (fitted, not cropped). Columns default to a near-square layout (ceil of the square
    root), so 15 photos make a 4x4 grid."""
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
        sheet.paste(fit_in_square(image, tile), (column * tile, row * tile))
    return sheet
