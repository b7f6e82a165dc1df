"""Spotting the same photo twice: exact copies by sha256, near copies by a perceptual hash."""

from __future__ import annotations

from PIL import Image

# A 17x16 grayscale thumbnail gives 16 left-right comparisons per row: a 256-bit dHash. The
# classic 64-bit (9x8) hash put distinct synthetic scenes as close as 7 bits with copies at up
# to 4, too thin a margin; at 256 bits copies measured <= 16 and distinct scenes >= 38.
_HASH_WIDTH = 16
_HASH_HEIGHT = 16
# Re-encoded or resized copies measured 2-10 bits apart, a 1% crop or a slight blur up to 16;
# 24 (under 10% of the bits) sits between those and the nearest distinct scenes (38).
NEAR_DUPLICATE_MAX_BITS = 24


def difference_hash(image: Image.Image) -> int:
    """dHash: for each cell of a small grayscale thumbnail, is it brighter than its right
    neighbour? Robust to re-encoding, resizing and small colour shifts."""
    # BOX averages every source pixel into its cell, so JPEG noise averages out.
    thumbnail = image.convert("L").resize((_HASH_WIDTH + 1, _HASH_HEIGHT), Image.Resampling.BOX)
    pixels = list(thumbnail.getdata())
    bits = 0
    for row in range(_HASH_HEIGHT):
        offset = row * (_HASH_WIDTH + 1)
        for column in range(_HASH_WIDTH):
            left, right = pixels[offset + column], pixels[offset + column + 1]
            bits = (bits << 1) | (left > right)
    return bits


def hamming_distance(first: int, second: int) -> int:
    return (first ^ second).bit_count()


def is_near_duplicate(first: int, second: int) -> bool:
    return hamming_distance(first, second) <= NEAR_DUPLICATE_MAX_BITS
