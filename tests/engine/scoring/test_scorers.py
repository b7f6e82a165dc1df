"""Preview scores on the tiny random scorers `build_tiny_sdxl` writes: real transformers
models loaded through `from_pretrained`, on the CPU."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from engine.scoring.loading import ScorerUnavailableError, load_scoring_models
from engine.scoring.scorers import PreviewScorer
from engine.settings import ScoringSettings
from tests.samples import scene


def tiny_scoring(model_dir: Path) -> ScoringSettings:
    return ScoringSettings(
        identity_model=str(model_dir / "scorers" / "identity"),
        prompt_model=str(model_dir / "scorers" / "prompt"),
    )


def pngs(directory: Path, seeds: list[int], size: int = 64) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for seed in seeds:
        path = directory / f"{seed}.png"
        scene(seed, (size, size)).save(path)
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def scorer(tiny_model_dir: Path) -> PreviewScorer:
    return PreviewScorer(tiny_scoring(tiny_model_dir), "cpu")


def test_scores_are_finite_cosines(scorer: PreviewScorer, tmp_path: Path) -> None:
    previews = pngs(tmp_path / "previews", [1, 2])
    photos = pngs(tmp_path / "photos", [10, 11, 12], size=96)

    scores = scorer.score(previews, ["a photo of cat", "cat on a skateboard"], photos)

    for value in (scores.identity, scores.clip_image, scores.clip_text):
        assert math.isfinite(value) and -1.0 <= value <= 1.0


def test_a_preview_that_is_the_photo_scores_full_likeness(
    scorer: PreviewScorer, tmp_path: Path
) -> None:
    [photo] = pngs(tmp_path, [5])
    scores = scorer.score([photo], ["a photo of cat"], [photo])
    assert scores.identity == pytest.approx(1.0, abs=1e-5)
    assert scores.clip_image == pytest.approx(1.0, abs=1e-5)


def test_scores_repeat_exactly(scorer: PreviewScorer, tmp_path: Path) -> None:
    previews, photos = pngs(tmp_path / "p", [1]), pngs(tmp_path / "q", [2, 3])
    first = scorer.score(previews, ["a photo of cat"], photos)
    assert scorer.score(previews, ["a photo of cat"], photos) == first


def test_each_preview_needs_its_prompt(scorer: PreviewScorer, tmp_path: Path) -> None:
    previews = pngs(tmp_path, [1, 2])
    with pytest.raises(ValueError, match="2 previews but 1 prompts"):
        scorer.score(previews, ["a photo of cat"], previews)


def test_the_tiny_scorers_load_like_real_ones(tiny_model_dir: Path) -> None:
    models = load_scoring_models(tiny_scoring(tiny_model_dir))
    assert type(models.identity).__name__ == "ViTModel"
    assert type(models.clip).__name__ == "CLIPModel"
    assert all(not p.requires_grad for model in models.all() for p in model.parameters())
    assert {p.device for model in models.all() for p in model.parameters()} == {torch.device("cpu")}


def test_a_missing_scorer_says_what_to_do(tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-model")
    scorer = PreviewScorer(ScoringSettings(identity_model=missing, prompt_model=missing), "cpu")
    [image] = pngs(tmp_path, [1])
    with pytest.raises(ScorerUnavailableError) as first:
        scorer.score([image], ["a photo of cat"], [image])
    assert "petbooth download-models" in str(first.value)
    assert "PETBOOTH_SCORING__IDENTITY_MODEL" in str(first.value)
    with pytest.raises(ScorerUnavailableError) as again:  # not retried at every preview
        scorer.score([image], ["a photo of cat"], [image])
    assert again.value is first.value
