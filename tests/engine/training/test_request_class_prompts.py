"""CLIP-T scores a preview against its prompt as the base model reads it: the class noun in
place of the pet's token."""

from __future__ import annotations

from pathlib import Path

from tests.engine.training._runs import make_request


def test_the_class_noun_stands_in_for_the_token(tmp_path: Path) -> None:
    prompts = ("a photo of {token} {cls}", "{token} {cls} on a skateboard", "{token} asleep")
    request = make_request(tmp_path, tmp_path, [], validation_prompts=prompts)

    assert request.validation_prompts() == [
        "a photo of sks cat",
        "sks cat on a skateboard",
        "sks asleep",
    ]
    assert request.class_noun_prompts() == [
        "a photo of cat",
        "cat on a skateboard",
        "cat asleep",
    ]
