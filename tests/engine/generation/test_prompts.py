"""Prompts longer than CLIP's 77 tokens, encoded on purpose instead of silently cut."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from engine.generation.prompts import encode_long_prompt
from engine.generation.resident import ResidentPipeline
from tests.engine.generation._tiny_lora import picture

pytestmark = pytest.mark.usefixtures("one_thread")

CPU = torch.device("cpu")


def test_a_short_prompt_is_encoded_exactly_as_sdxl_encodes_it(resident: ResidentPipeline) -> None:
    pipeline = resident.pipeline
    ours = encode_long_prompt(pipeline, "a photo of sks cat", "blurry", 3, CPU)
    embeds, negative, pooled, negative_pooled = pipeline.encode_prompt(
        "a photo of sks cat", device=CPU, negative_prompt="blurry"
    )
    assert ours.chunks == 1 and ours.truncated is None
    assert torch.equal(ours.embeds, embeds) and torch.equal(ours.pooled, pooled)
    assert torch.equal(ours.negative_embeds, negative)
    assert torch.equal(ours.negative_pooled, negative_pooled)


def test_a_long_prompt_is_chunked_and_an_overlong_one_reports_what_was_cut(
    resident: ResidentPipeline,
) -> None:
    pipeline = resident.pipeline
    long = (
        "a photo of sks cat sitting on a red velvet sofa next to a tall window "
        "in the late afternoon sun, oil painting"
    )
    tokens = pipeline.tokenizer(long, add_special_tokens=False, truncation=False).input_ids
    assert 77 < len(tokens) <= 150  # one token per byte in the tiny model: two chunks

    read = encode_long_prompt(pipeline, long, "", 3, CPU)
    assert read.chunks == 2 and read.truncated is None
    assert read.embeds.shape == (1, 154, 64) and read.negative_embeds.shape == (1, 154, 64)
    cut_short = encode_long_prompt(pipeline, long, "", 1, CPU)
    dropped = cut_short.truncated
    assert dropped is not None and long.endswith(dropped)
    kept = long[: -len(dropped)]
    assert not (kept[-1].isalpha() and dropped[0].isalpha())  # no word is cut in half
    assert cut_short.embeds.shape == (1, 77, 64)
    drawn = resident.generate(replace(picture(None), prompt=long))
    assert drawn.truncated is None and len(drawn.images) == 1


def test_a_negative_prompt_longer_than_the_prompt_is_read_whole_or_its_cut_reported(
    resident: ResidentPipeline,
) -> None:
    """A short prompt and a long negative: the negative gets the chunks it needs (two
    negatives differing only at their end condition differently), and past max_chunks
    its cut is reported as the prompt's is."""
    pipeline = resident.pipeline
    negative = (
        "blurry, low quality, extra legs, deformed paws, watermark, text, oversaturated "
        "colours, cropped ears, a second cat"
    )
    tokens = pipeline.tokenizer(negative, add_special_tokens=False, truncation=False).input_ids
    assert 77 < len(tokens) <= 150  # two chunks in the tiny model

    one = encode_long_prompt(pipeline, "a photo of sks cat", negative, 3, CPU)
    other = encode_long_prompt(pipeline, "a photo of sks cat", negative + " dog", 3, CPU)
    assert one.chunks == 2 and one.embeds.shape == one.negative_embeds.shape == (1, 154, 64)
    assert (one.truncated, one.negative_truncated) == (None, None)
    assert not torch.equal(one.negative_embeds, other.negative_embeds)

    cut = encode_long_prompt(pipeline, "a photo of sks cat", negative, 1, CPU)
    assert cut.truncated is None
    dropped = cut.negative_truncated
    assert dropped is not None  # CLIP's decoding puts a space before each comma
    assert negative.replace(" ", "").endswith(dropped.replace(" ", ""))
    drawn = resident.generate(replace(picture(None), negative_prompt=negative * 4))
    assert drawn.negative_truncated is not None
