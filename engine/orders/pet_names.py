"""Pet names: what a name may be, what is wrong with one that may not, and its file slug.

Discord is used worldwide, so a name is letters and digits of any script ("thor", "тор",
"ポチ", "शेरू"), with '-' or '_' between them. It is kept as given (casefolded, so "Thor"
and "THOR" are one pet) for every message; it never becomes a path on its own: files named
after a pet use ``file_slug``.
"""

from __future__ import annotations

import unicodedata

MAX_NAME_CHARS = 32  # fits a Discord autocomplete choice and one line of /status
_JOINERS = "-_"
_NAME_RULE = (
    f"Use 1-{MAX_NAME_CHARS} letters or digits (any alphabet), with '-' or '_' between "
    "them, e.g. `thor`, `тор` or `big-thor`."
)


def normalise_name(name: str) -> str:
    """The form a name is stored and looked up in: NFKC (full-width "ｔｈｏｒ" is "thor"),
    casefolded (unique per owner whatever the case), outer whitespace removed."""
    return unicodedata.normalize("NFKC", name.strip()).casefold()


def name_problem(name: str) -> str | None:
    """None for a good name; otherwise one sentence saying what is wrong with this one and
    what a name may be. The given name is never echoed (it may be a mention or markdown):
    only the characters at fault are described."""
    stored = normalise_name(name)
    if not stored:
        return f"The name is empty. {_NAME_RULE}"
    typed = unicodedata.normalize("NFC", name.strip())  # faults as the user typed them ("½")
    faults = []
    if len(stored) > MAX_NAME_CHARS:
        faults.append(f"is {len(stored)} characters long (at most {MAX_NAME_CHARS})")
    first = next((form[0] for form in (typed, stored) if _cannot_start(form[0])), None)
    if first is not None:
        faults.append(f"starts with {describe_character(first)}")
    # The stored form too: NFKC can turn a letter into several characters, a space included.
    bad = _bad_characters(typed) or _bad_characters(stored)
    if bad:
        faults.append("contains " + _and_list([describe_character(c) for c in bad]))
    if not faults:
        return None
    return f"The name {_and_list(faults)}. {_NAME_RULE}"


def file_slug(name: str) -> str:
    """The name in ASCII letters, digits and '-' for a file name (accents dropped: "zoë" is
    "zoe"); "pet" when nothing is left ("тор"), so a file never gets an empty stem."""
    ascii_only = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    kept = "".join(c if c.isalnum() else "-" for c in ascii_only.lower())
    slug = "-".join(part for part in kept.split("-") if part)[:MAX_NAME_CHARS].strip("-")
    return slug or "pet"


def describe_character(char: str) -> str:
    """A character as a person can read it in a message, never raw markup: "a space",
    "a backtick", "'@'", "a symbol (cat face)", "an invisible character (RIGHT-TO-LEFT
    OVERRIDE)"."""
    if char.isspace():
        return "a space" if char == " " else "a whitespace character"
    if char == "`":
        return "a backtick"  # raw, it would open a code span in Discord
    name = unicodedata.name(char, f"U+{ord(char):04X}")
    if _is_mark(char):
        return f"a combining mark ({name.lower()})"
    if unicodedata.category(char).startswith(("C", "Z")):
        return f"an invisible character ({name})"
    if char.isascii():
        return f"'{char}'"
    return f"a symbol ({name.lower()})"


def _bad_characters(name: str) -> list[str]:
    """Each character no name may contain, once, in order of appearance."""
    bad: list[str] = []
    for char in name:
        if not _allowed(char) and char not in bad:
            bad.append(char)
    return bad


def _allowed(char: str) -> bool:
    # Letters (L*), digits (Nd), and marks (M*) that scripts such as Devanagari and Thai
    # write vowels with; "½" (No) or "Ⅻ" (Nl) are symbols here.
    return char in _JOINERS or unicodedata.category(char)[0] in "LM" or char.isdecimal()


def _cannot_start(char: str) -> bool:
    """'-', '_' and combining marks go between letters, not first."""
    return char in _JOINERS or _is_mark(char)


def _is_mark(char: str) -> bool:
    return unicodedata.category(char).startswith("M")


def _and_list(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]
