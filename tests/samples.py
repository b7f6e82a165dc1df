"""Sample photos and archives made in code, shared by the tests."""

from __future__ import annotations

import io
import random
import struct
import zipfile
import zlib
from pathlib import Path

from PIL import Image


def scene(seed: int, size: tuple[int, int] = (640, 576)) -> Image.Image:
    """A smooth random colour field: distinct per seed, so never a near-duplicate of another."""
    rng = random.Random(seed)
    return Image.frombytes("RGB", (6, 6), rng.randbytes(6 * 6 * 3)).resize(
        size, Image.Resampling.BICUBIC
    )


def encode(image: Image.Image, fmt: str = "JPEG", **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def jpeg(seed: int, size: tuple[int, int] = (640, 576)) -> bytes:
    return encode(scene(seed, size), "JPEG", quality=90)


def png_header(width: int, height: int) -> bytes:
    """A PNG that claims ``width`` x ``height`` pixels: signature, IHDR, a tiny IDAT, IEND."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def zip_of(members: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return buffer.getvalue()


def write_photos(directory: Path, count: int, size: int = 96, first_seed: int = 0) -> list[Path]:
    """`count` distinct JPEG photos of `size` px, as a user would upload them."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = directory / f"pet_{i:02d}.jpg"
        path.write_bytes(jpeg(first_seed + i, (size, size)))
        paths.append(path)
    return paths
