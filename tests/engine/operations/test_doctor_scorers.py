"""`petbooth doctor` and `petbooth download-models` know the scoring models."""

from __future__ import annotations

from pathlib import Path

from engine.models.download import download_models
from engine.operations.doctor import check_scorers
from engine.settings import ScoringSettings, Settings


def settings_for(tmp_path: Path, scoring: ScoringSettings) -> Settings:
    return Settings(data_dir=tmp_path / "data", scoring=scoring, _env_file=None)


def test_missing_scorers_are_a_warning_that_says_what_to_do(tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-scorer")
    scoring = ScoringSettings(identity_model=missing, prompt_model=missing)

    finding = check_scorers(settings_for(tmp_path, scoring))

    assert not finding.ok and not finding.fatal  # the engine still trains, unscored
    assert "petbooth download-models" in finding.fix
    assert "PETBOOTH_SCORING__ENABLED=false" in finding.fix


def test_local_scorers_are_available(tmp_path: Path, tiny_model_dir: Path) -> None:
    scorers = tiny_model_dir / "scorers"
    scoring = ScoringSettings(
        identity_model=str(scorers / "identity"), prompt_model=str(scorers / "prompt")
    )
    assert check_scorers(settings_for(tmp_path, scoring)).ok


def test_scoring_off_needs_no_scorers(tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-scorer")
    scoring = ScoringSettings(enabled=False, identity_model=missing, prompt_model=missing)
    finding = check_scorers(settings_for(tmp_path, scoring))
    assert finding.ok and "off" in finding.detail


def test_download_models_includes_the_scorers(tiny_model_dir: Path) -> None:
    scorers = tiny_model_dir / "scorers"
    places = download_models(
        str(tiny_model_dir), None, [str(scorers / "identity"), str(scorers / "prompt")]
    )
    assert places == [
        f"{reference} (local directory, nothing to download)"
        for reference in (tiny_model_dir, scorers / "identity", scorers / "prompt")
    ]
