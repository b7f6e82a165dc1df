"""`petbooth doctor` checks the safety model and `petbooth download-models` fetches it."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.cli import main
from engine.operations.doctor import check_safety
from engine.settings import SafetySettings, Settings
from tests.safety_models import flags_nothing

__all__ = ["flags_nothing"]


def settings_for(tmp_path: Path, safety: SafetySettings) -> Settings:
    return Settings(data_dir=tmp_path / "data", safety=safety, _env_file=None)


def test_a_missing_safety_model_is_a_warning_that_says_what_to_do(tmp_path: Path) -> None:
    safety = SafetySettings(model=str(tmp_path / "never-downloaded"))

    finding = check_safety(settings_for(tmp_path, safety))

    assert not finding.ok and not finding.fatal  # the engine runs; checked pictures are withheld
    assert "would all be withheld" in finding.detail
    assert "petbooth download-models" in finding.fix


def test_a_local_safety_model_that_loads_is_ok(tmp_path: Path, flags_nothing: Path) -> None:
    finding = check_safety(settings_for(tmp_path, SafetySettings(model=str(flags_nothing))))
    assert finding.ok, finding.line()


def test_a_model_without_the_flag_labels_is_named(tmp_path: Path, flags_nothing: Path) -> None:
    safety = SafetySettings(model=str(flags_nothing), flag_labels=("explicit",))

    finding = check_safety(settings_for(tmp_path, safety))

    assert not finding.ok and "none of PETBOOTH_SAFETY__FLAG_LABELS" in finding.detail


def test_download_models_includes_the_safety_model(
    tmp_path: Path,
    flags_nothing: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in {
        "PETBOOTH_DATA_DIR": str(tmp_path),
        "PETBOOTH_BASE_MODEL": str(tmp_path),
        "PETBOOTH_VAE": "",
        "PETBOOTH_SCORING__ENABLED": "false",
        "PETBOOTH_SAFETY__MODEL": str(flags_nothing),
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)  # no .env from the working directory

    assert main(["download-models"]) == 0
    assert f"{flags_nothing} (local directory, nothing to download)" in capsys.readouterr().out
