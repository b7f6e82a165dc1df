"""The Dockerfile, compose file and README stay true to the repository (no Docker engine
here, so they are checked by reading)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_dockerfile_copies_only_files_that_exist() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    sources = []
    for line in dockerfile.splitlines():
        if line.startswith("COPY "):
            sources += line.split()[1:-1]
    assert sources, "the Dockerfile copies nothing"
    for source in sources:
        assert (ROOT / source).exists(), f"Dockerfile copies missing {source}"


def test_docker_runs_the_console_entry_point() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert 'CMD ["petbooth", "run"]' in dockerfile and "petbooth" in scripts
    assert re.search(r"^USER (?!root)\w+", dockerfile, re.MULTILINE), "runs as non-root"
    assert "HEALTHCHECK" in dockerfile and 'VOLUME ["/data", "/models"]' in dockerfile


def test_dockerfile_pins_what_the_project_tested() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM \S+:\d", dockerfile, re.MULTILINE), "base image tag is pinned"
    for package in ("torch", "diffusers", "transformers", "peft", "discord.py"):
        assert re.search(rf'"{re.escape(package)}==[\d.]+"', dockerfile), package


def test_compose_reserves_the_gpu_and_keeps_data() -> None:
    compose = (ROOT / "compose.yaml").read_text()
    assert "driver: nvidia" in compose and "capabilities: [gpu]" in compose
    assert "/data" in compose and "/models" in compose and "build: ." in compose


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "make run" in readme
    assert ci.strip().splitlines()[-1] == "make test"
