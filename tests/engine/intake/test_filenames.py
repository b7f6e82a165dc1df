"""Uploaded names made safe to show."""

from __future__ import annotations

import pytest

from engine.intake import sanitize_display_name


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
