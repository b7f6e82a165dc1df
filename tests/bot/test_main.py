"""Starting the bot: the missing-token message, and an import chain without torch."""

from __future__ import annotations

import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import bot

HEAVY = (
    "torch",
    "diffusers",
    "transformers",
    "peft",
    "engine.training",
    "engine.generation",
    "engine.models",
    "engine.process",
)


def run_python(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PETBOOTH_")}
    env["PETBOOTH_DATA_DIR"] = str(cwd / "data")
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("command", [["-m", "bot"], ["-m", "engine.cli", "bot"]])
def test_without_a_token_it_says_how_to_make_one_and_exits_non_zero(
    command: list[str], tmp_path: Path
) -> None:
    result = run_python(*command, cwd=tmp_path)  # tmp_path has no .env either

    assert result.returncode == 2
    assert "New Application -> Bot ->\nReset Token" in result.stderr
    assert "PETBOOTH_DISCORD_TOKEN=" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_bot_imports_without_torch(tmp_path: Path) -> None:
    modules = ["bot.__main__", *(m.name for m in pkgutil.walk_packages(bot.__path__, "bot."))]
    script = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        f"print([m for m in {HEAVY!r} if m in sys.modules])\n"
    )

    result = run_python("-c", script, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
