"""Prompts longer than CLIP's 77 tokens, encoded on purpose instead of silently cut.

CLIP reads 77 tokens: BOS, 75 of text, EOS. A longer prompt is split into 75-token chunks;
each chunk gets its own BOS/EOS, goes through both encoders, and the hidden states are
concatenated along the sequence axis (the UNet's cross-attention takes any length). The
pooled embedding comes from the first chunk, the one that holds the prompt's start. Past
`max_chunks` chunks the rest is dropped, and the dropped words are returned so that the
job's result can say so. The negative prompt is read the same way, in as many chunks as the
longer of the two needs (classifier-free guidance puts both through the UNet as one batch),
and a cut of it is reported too.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from diffusers.pipelines.stable_diffusion_xl.pipeline_stable_diffusion_xl import (
    StableDiffusionXLPipeline,
)
from transformers import PreTrainedTokenizerBase

CHUNK_TOKENS = 75  # 77 minus BOS and EOS


@dataclass(frozen=True)
class EncodedPrompt:
    embeds: torch.Tensor  # (1, 77 * chunks, 2048 for SDXL)
    pooled: torch.Tensor  # (1, 1280)
    negative_embeds: torch.Tensor  # same shape as embeds (CFG concatenates along the batch)
    negative_pooled: torch.Tensor
    chunks: int
    truncated: str | None  # the words past max_chunks chunks, None when nothing was cut
    negative_truncated: str | None = None  # the same, of the negative prompt


def encode_long_prompt(
    pipeline: StableDiffusionXLPipeline,
    prompt: str,
    negative_prompt: str,
    max_chunks: int,
    device: torch.device,
) -> EncodedPrompt:
    """Both encoders' penultimate hidden states, chunk by chunk, for prompt and negative."""
    tokenizers = [pipeline.tokenizer, pipeline.tokenizer_2]
    ids = [_text_ids(t, prompt) for t in tokenizers]
    # What SDXL's own pipeline does for "no negative prompt": zero conditioning.
    zeros_for_empty = pipeline.config.get("force_zeros_for_empty_prompt", True)
    zero_negative = not negative_prompt and zeros_for_empty
    negative_ids = [] if zero_negative else [_text_ids(t, negative_prompt) for t in tokenizers]
    longest = max(len(ids[0]), len(negative_ids[0]) if negative_ids else 0)
    chunks = min(max_chunks, max(1, _ceil_div(longest, CHUNK_TOKENS)))
    ids, truncated = _cut(tokenizers, ids, chunks)
    embeds, pooled = _encode_chunks(pipeline, ids, chunks, device)
    negative_truncated = None
    if zero_negative:
        negative, negative_pooled = torch.zeros_like(embeds), torch.zeros_like(pooled)
    else:
        negative_ids, negative_truncated = _cut(tokenizers, negative_ids, chunks)
        negative, negative_pooled = _encode_chunks(pipeline, negative_ids, chunks, device)
    return EncodedPrompt(
        embeds, pooled, negative, negative_pooled, chunks, truncated, negative_truncated
    )


def _cut(
    tokenizers: list[PreTrainedTokenizerBase], ids: list[list[int]], chunks: int
) -> tuple[list[list[int]], str | None]:
    """Both tokenizers' ids cut to `chunks` chunks at the same whole word, and the words
    dropped (None when all fit)."""
    limit = chunks * CHUNK_TOKENS
    if len(ids[0]) <= limit:
        return ids, None
    words = _whole_words(tokenizers[0], ids[0], limit)
    cuts = [_word_end(t, i, words, limit) for t, i in zip(tokenizers, ids, strict=True)]
    dropped = str(tokenizers[0].decode(ids[0][cuts[0] :], skip_special_tokens=True)).strip()
    return [i[:cut] for i, cut in zip(ids, cuts, strict=True)], dropped or None


def _text_ids(tokenizer: PreTrainedTokenizerBase, text: str) -> list[int]:
    """Token ids of `text` without BOS, EOS or padding, however long."""
    ids = tokenizer(text, add_special_tokens=False, truncation=False, verbose=False).input_ids
    return [int(i) for i in ids]


def _whole_words(tokenizer: PreTrainedTokenizerBase, ids: list[int], limit: int) -> int:
    """How many whole words fit in the first `limit` tokens (CLIP marks a word's end "</w>")."""
    tokens = tokenizer.convert_ids_to_tokens(ids[:limit])
    return sum(1 for token in tokens if token.endswith("</w>"))


def _word_end(tokenizer: PreTrainedTokenizerBase, ids: list[int], words: int, limit: int) -> int:
    """The token index just after the `words`-th word, so a word is kept or dropped whole.
    Both SDXL tokenizers split words the same way, so both cut at the same word."""
    if words == 0:
        return limit  # one word longer than every chunk: cut inside it
    seen = 0
    for index, token in enumerate(tokenizer.convert_ids_to_tokens(ids[:limit])):
        seen += token.endswith("</w>")
        if seen == words:
            return index + 1
    return limit  # one word longer than every chunk: cut inside it


def _chunk_ids(tokenizer: PreTrainedTokenizerBase, ids: list[int], chunks: int) -> torch.Tensor:
    """(chunks, 77): each chunk BOS + up to 75 tokens + EOS, then the tokenizer's padding."""
    width = CHUNK_TOKENS + 2
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    rows = []
    for index in range(chunks):
        text = ids[index * CHUNK_TOKENS : (index + 1) * CHUNK_TOKENS]
        row = [tokenizer.bos_token_id, *text, tokenizer.eos_token_id]
        rows.append(row + [pad] * (width - len(row)))
    return torch.tensor(rows, dtype=torch.long)


def _encode_chunks(
    pipeline: StableDiffusionXLPipeline, ids: list[list[int]], chunks: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    encoders = [pipeline.text_encoder, pipeline.text_encoder_2]
    tokenizers = [pipeline.tokenizer, pipeline.tokenizer_2]
    per_encoder, pooled = [], None
    with torch.no_grad():
        for encoder, tokenizer, text_ids in zip(encoders, tokenizers, ids, strict=True):
            batch = _chunk_ids(tokenizer, text_ids, chunks).to(device)
            output = encoder(batch, output_hidden_states=True)
            hidden = output.hidden_states[-2]  # SDXL conditions on the penultimate layer
            per_encoder.append(hidden.reshape(1, -1, hidden.shape[-1]))  # chunks side by side
            if output[0].ndim == 2:  # the projection encoder's pooled text embedding
                pooled = output[0][:1]
    assert pooled is not None, "SDXL's second text encoder returns a pooled embedding"
    return torch.cat(per_encoder, dim=-1), pooled


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)
