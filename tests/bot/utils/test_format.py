"""Engine-written refusals: their `code` renders, the words around it stay plain text."""

from __future__ import annotations

from bot.utils.format import safe_keeping_code


def test_code_spans_render_and_the_rest_is_escaped() -> None:
    text = "You already have a pet named 'rex_the_cat'. Try `/forget rex_the_cat` first."

    assert safe_keeping_code(text) == (
        "You already have a pet named 'rex\\_the\\_cat'. Try `/forget rex_the_cat` first."
    )


def test_markup_around_a_span_is_escaped_as_one_text() -> None:
    assert safe_keeping_code("a*b `code` c*d") == "a\\*b `code` c\\*d"


def test_no_mass_mention_and_no_stray_placeholder() -> None:
    shown = safe_keeping_code("@everyone \ue000`x`")

    assert "@everyone" not in shown and shown.endswith(" `x`")
    assert "\ue000" not in shown
