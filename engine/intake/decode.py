"""Bytes to a training-ready RGB image, or a reason a person can act on.

Order matters for safety: the byte size is checked before Pillow sees the data, and the pixel
count is read from the header (Image.open is lazy) before any pixels are decoded, so neither a
huge file nor a decompression bomb is ever expanded in memory.
"""

from __future__ import annotations

import io
import logging
import warnings

from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from engine.intake.formats import ACCEPTED_NAMES, accepted_formats
from engine.intake.sizes import sizes_apart
from engine.intake.uploads import IntakeLimits

log = logging.getLogger(__name__)

# Training runs at <= 1024 px; 2048 leaves room for the square crop and any later upscale
# without keeping 12-48 MP phone photos in memory.
MAX_LONG_SIDE = 2048
_SIXTEEN_BIT_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N")


class PhotoRejected(Exception):
    """Raised with a reason meant for the person who uploaded the file."""


def decode_photo(data: bytes, limits: IntakeLimits) -> Image.Image:
    """Decode, orient, convert to RGB and downscale one photo; raise PhotoRejected otherwise."""
    check_file_size(data, limits)
    with _open_checked(data, limits) as image:
        try:
            image.load()  # decode every pixel now: a truncated file fails here, not in training
        except Exception as error:  # Pillow's decoders raise OSError, SyntaxError, struct.error
            log.info("photo failed to decode fully: %r", error)
            raise PhotoRejected("damaged image (could not decode all of it; truncated?)") from None
        oriented = _oriented(image)
    width, height = oriented.size
    if min(width, height) < limits.min_side:
        raise PhotoRejected(
            f"too small: {width}x{height}, need at least {limits.min_side} px on the short side"
        )
    rgb = _to_srgb(oriented)
    rgb.thumbnail((MAX_LONG_SIDE, MAX_LONG_SIDE), Image.Resampling.LANCZOS)
    return rgb


def check_file_size(data: bytes, limits: IntakeLimits) -> None:
    """Before Pillow (or even sha256) sees the bytes."""
    if not data:  # Pillow would call it "not an image"; the upload itself went wrong
        raise PhotoRejected("file is empty (0 bytes); upload it again")
    if len(data) > limits.max_file_bytes:
        raise PhotoRejected(
            "file too large: {}, limit {}".format(*sizes_apart(len(data), limits.max_file_bytes))
        )


def _oriented(image: Image.Image) -> Image.Image:
    """Apply the EXIF Orientation tag (phones store portraits sideways with a tag)."""
    try:
        return ImageOps.exif_transpose(image)
    except Exception as error:  # malformed EXIF: the pixels are still a usable photo
        log.info("ignoring unreadable EXIF orientation: %r", error)
        return image.copy()


def _open_checked(data: bytes, limits: IntakeLimits) -> Image.Image:
    """Open lazily (header only) and refuse unsupported formats and oversized pixel counts."""
    try:
        # Pillow warns above ~89 MP; our own limit below is the one that decides, so the
        # warning is silenced here (locally) instead of changing Image.MAX_IMAGE_PIXELS.
        # (catch_warnings is process-wide while open, but it only hides this one category.)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=accepted_formats())
    except Image.DecompressionBombError:
        # Pillow refuses outright above ~179 MP, before we can read the size ourselves.
        raise PhotoRejected("image too large (decompression-bomb guard)") from None
    except UnidentifiedImageError:
        raise PhotoRejected(_unidentified_reason(data)) from None
    except Exception as error:  # a header that parses as the format but is broken
        log.info("photo header failed to parse: %r", error)
        raise PhotoRejected("not an image (could not decode)") from None
    width, height = image.size
    if width * height > limits.max_image_pixels:
        raise PhotoRejected(f"image too large: {width}x{height} pixels (decompression-bomb guard)")
    return image


def _unidentified_reason(data: bytes) -> str:
    """Name the format when Pillow knows it but we do not accept it (GIF, BMP, TIFF...)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            other_format = Image.open(io.BytesIO(data)).format
    except Exception:  # not an image Pillow knows at all
        return "not an image (could not decode)"
    return f"unsupported image format {other_format}; send {ACCEPTED_NAMES}"


def _to_srgb(image: Image.Image) -> Image.Image:
    """RGB in sRGB: an embedded colour profile converted (iPhone photos are Display P3),
    16-bit scaled (not clipped) to 8-bit, alpha composited on white."""
    profile = image.info.get("icc_profile")
    if profile and image.mode in ("RGB", "CMYK"):
        image = _convert_profile_to_srgb(image, profile)
    if image.mode in _SIXTEEN_BIT_MODES:
        # convert("L") would clip 0..65535 to 0..255, turning most 16-bit photos white.
        image = image.convert("I").point(lambda value: value / 256).convert("L")
    if image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or (
        image.mode == "P" and "transparency" in image.info
    ):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)
    return image.convert("RGB")


def _convert_profile_to_srgb(image: Image.Image, profile: bytes) -> Image.Image:
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
        converted = ImageCms.profileToProfile(
            image, source, ImageCms.createProfile("sRGB"), outputMode="RGB"
        )
    except (ImageCms.PyCMSError, OSError, ValueError) as error:
        # A broken or mismatched profile is not worth rejecting a photo over: keep the pixels.
        log.info("ignoring unusable ICC profile: %r", error)
        return image
    return converted if converted is not None else image
