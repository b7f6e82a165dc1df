"""The README's "Try it without Discord or a GPU" commands, run as a new user runs them: the
bash block under that heading, pasted into bash in a checkout whose `.venv` is set up. They
must all succeed, leave the files where the README's text says, and end with the pet ready."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
HEADING = "## Try it without Discord or a GPU"
# The folder the commands make and work in (their second line).
FOLDER = "try-petbooth"
# On the 2-core CI machine the commands take about a minute; this leaves room, not hours.
TIMEOUT_SECONDS = 300


def try_it_section() -> str:
    _, found, rest = (ROOT / "README.md").read_text().partition(f"\n{HEADING}\n")
    assert found, f"README.md has no {HEADING!r} section"
    return rest.split("\n## ", 1)[0]


def commands(section: str) -> str:
    """The section's first ```bash block: the commands exactly as the README shows them."""
    block = re.search(r"^```bash\n(.*?)^```", section, re.MULTILINE | re.DOTALL)
    assert block, "the section has no ```bash block"
    return block.group(1)


def files_named(section: str) -> list[str]:
    """The paths the section's text promises, e.g. `pics/image-0.png`, `data/jobs/1/lora/`."""
    prose = re.sub(r"^```bash\n.*?^```", "", section, flags=re.MULTILINE | re.DOTALL)
    return re.findall(r"`((?:pics|data)/[^`\s]*)`", prose)


def a_checkout(tmp_path: Path) -> Path:
    """A folder laid out as a set-up checkout is for these commands: `.venv` is the
    virtualenv running this test (the one `make setup` or `make setup-test` made)."""
    venv = Path(sys.prefix)
    if venv == Path(sys.base_prefix) or not (venv / "bin" / "petbooth").exists():
        pytest.skip("the try-it commands need pytest to run from the petbooth virtualenv")
    (tmp_path / ".venv").symlink_to(venv, target_is_directory=True)
    return tmp_path


def fresh_shell_env() -> dict[str, str]:
    """The environment of a new terminal: no petbooth settings, the venv not on PATH (the
    commands' first line activates it)."""
    venv_bin = str(Path(sys.prefix) / "bin")
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("PETBOOTH_") and key != "VIRTUAL_ENV"
    }
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if p != venv_bin)
    env["HF_HUB_OFFLINE"] = "1"  # the commands set it too: nothing may be downloaded
    return env


def test_the_readme_try_it_commands_train_and_draw_a_pet(tmp_path: Path) -> None:
    section = try_it_section()
    checkout = a_checkout(tmp_path)

    ran = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", commands(section)],
        cwd=checkout,
        env=fresh_shell_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
    )

    assert ran.returncode == 0, f"stdout:\n{ran.stdout[-3000:]}\nstderr:\n{ran.stderr[-6000:]}"
    folder = checkout / FOLDER
    promised = files_named(section)
    assert "pics/image-0.png" in promised
    missing = [path for path in promised if not (folder / path).exists()]
    assert not missing, f"the README names files the commands did not make: {missing}"
    with Image.open(folder / "pics" / "image-0.png") as picture:
        assert picture.size == (64, 64)  # the tiny model's native size
    previews = sorted(p.name for p in (folder / "data/jobs/1/previews").glob("*.png"))
    assert previews == ["step-000010.png", "step-000020.png"]
    assert re.search(r"^\s+thor \(cat, token \w+\): ready", ran.stdout, re.MULTILINE), ran.stdout
    assert "<- recommended" in ran.stdout  # `petbooth eval thor` shows the scores
