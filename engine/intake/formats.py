"""Which image formats intake accepts, and the Pillow plugins that read them.

iPhones save HEIC by default (HEIF holding HEVC), and Android and browsers increasingly
save AVIF: refusing them turns away most phone photos. Pillow reads AVIF itself (since
11.3, libavif in its wheels); HEIC/HEIF comes from pillow-heif, whose opener registers
with Pillow. Both stay torch-free, so the bot can validate uploads.
"""

from __future__ import annotations

import functools
import logging

from PIL import features

log = logging.getLogger(__name__)

# Pillow's format ids. Multi-picture JPEGs from phones (MPO) open through the JPEG entry.
BASE_FORMATS = ("JPEG", "PNG", "WEBP")
ACCEPTED_NAMES = "JPEG, PNG, WebP, HEIC or AVIF"  # what a person is told to send


@functools.cache
def accepted_formats() -> tuple[str, ...]:
    """The formats ``Image.open`` may try, HEIF's opener registered with Pillow first.

    Registering is a change to Pillow's global plugin table, so it happens on first use,
    not at import (and once: ``functools.cache``)."""
    found = list(BASE_FORMATS)
    try:
        import pillow_heif  # declared dependency; absent only in a hand-made environment
    except ImportError:
        log.warning("pillow-heif is not installed: HEIC/HEIF photos will be refused")
    else:
        pillow_heif.register_heif_opener()
        found.append("HEIF")
    if features.check("avif"):
        found.append("AVIF")
    else:
        log.warning("this Pillow has no AVIF support (needs Pillow >= 11.3): AVIF refused")
    return tuple(found)
