"""Where a pet goes in a prompt: `TOK` (one pet), `TOK1` and `TOK2` (two pets) become the
pets' rare tokens, each owner's tokens distinct so that two of their LoRAs can share a
picture (torch-free)."""

from __future__ import annotations

import re

from engine.store import Subject

# Any case, whole word: "tok" in "TOKYO" stays.
TOK = re.compile(r"\bTOK\b", re.IGNORECASE)
TOK1 = re.compile(r"\bTOK1\b", re.IGNORECASE)  # the first pet (TOK means it too)
TOK2 = re.compile(r"\bTOK2\b", re.IGNORECASE)  # the second pet


def put_token(prompt: str, subject: Subject) -> str:
    """`TOK` or `TOK1` becomes the token; a prompt without either gets the subject anyway:
    the first mention of the class noun becomes "TOKEN class", or it is prefixed."""
    if TOK.search(prompt) or TOK1.search(prompt):
        return TOK1.sub(subject.token, TOK.sub(subject.token, prompt))
    noun = re.compile(rf"\b{re.escape(subject.class_noun)}\b", re.IGNORECASE)
    if noun.search(prompt):
        return noun.sub(f"{subject.token} {subject.class_noun}", prompt, count=1)
    return f"a photo of {subject.token} {subject.class_noun}, {prompt}"


def put_tokens(prompt: str, first: Subject, second: Subject) -> str:
    """Two pets: `TOK1` (or `TOK`) becomes the first's token and `TOK2` the second's; a
    prompt with neither gets both in front ("a photo of <tok1> cat and <tok2> dog, ...").
    `two_pet_problem` has refused a prompt that writes only one of them."""
    if not _names_first(prompt) and not TOK2.search(prompt):
        both = f"{first.token} {first.class_noun} and {second.token} {second.class_noun}"
        return f"a photo of {both}, {prompt}"
    return TOK2.sub(second.token, put_token(prompt, first))


def two_pet_problem(prompt: str, two_pets: bool) -> str | None:
    """Why `prompt` cannot be drawn with one pet or two (None: it can). With two pets both
    are written or neither (then both are put in): a pet left out of a prompt that names
    the other would still tint the picture through its LoRA, unasked."""
    if not two_pets:
        if TOK2.search(prompt):
            return "Your prompt uses TOK2, but no second pet is chosen: add `with_pet`."
        return None
    if _names_first(prompt) and not TOK2.search(prompt):
        return "Write TOK2 where your second pet goes (or neither TOK1 nor TOK2: I'll add both)."
    if TOK2.search(prompt) and not _names_first(prompt):
        return "Write TOK1 where your first pet goes (or neither TOK1 nor TOK2: I'll add both)."
    return None


def _names_first(prompt: str) -> bool:
    return bool(TOK.search(prompt) or TOK1.search(prompt))
