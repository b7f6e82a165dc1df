"""`pip install petbooth` is the bot and the torch-free core; `petbooth[engine]` adds the GPU
stack. On a bot-only install the bot imports, `petbooth status` / `doctor` / `run` work, and
the engine's commands say what to install instead of showing a traceback."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from engine.cli import ENGINE_MODULES
from tests.engine_env import engine_env, petbooth, without_modules

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
GPU_STACK = {"torch", "diffusers", "transformers", "accelerate", "peft", "bitsandbytes"}
# What a bot-only machine runs: the bot and the torch-free half of the engine.
TORCH_FREE = [
    "bot",
    "engine/store",
    "engine/intake",
    "engine/orders",
    "engine/operations",
    "engine/settings.py",
    "engine/cli.py",
]
# Imports a torch-free module makes only after checking that the engine is installed.
CHECKED_FIRST = {"engine/operations/doctor.py": {"torch", "huggingface_hub", "transformers"}}


def _name(requirement: str) -> str:
    """The distribution a requirement names, normalised (PEP 503)."""
    match = re.match(r"[A-Za-z0-9._-]+", requirement)
    assert match, requirement
    return re.sub(r"[-_.]+", "-", match.group()).lower()


CORE = {_name(r) for r in PROJECT["dependencies"]}
ENGINE = {_name(r) for r in PROJECT["optional-dependencies"]["engine"]}


def test_the_base_install_is_the_bot_and_the_engine_extra_adds_the_gpu_stack() -> None:
    assert not CORE & GPU_STACK, "pip install petbooth must not pull the GPU stack"
    assert {"discord-py", "aiosqlite", "pillow", "pydantic-settings"} <= CORE
    assert GPU_STACK | {"safetensors", "matplotlib"} <= ENGINE
    assert "petbooth[engine]" in PROJECT["optional-dependencies"]["test"]


def _third_party_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.partition(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.partition(".")[0])
    return names - set(sys.stdlib_module_names) - {"__future__", "bot", "engine"}


def test_every_import_of_the_torch_free_side_is_a_base_dependency() -> None:
    """Lazy imports inside functions count: a bot-only install would fail when they run."""
    distributions = importlib.metadata.packages_distributions()
    files = [
        file
        for place in TORCH_FREE
        for file in ([ROOT / place] if place.endswith(".py") else (ROOT / place).rglob("*.py"))
    ]
    outside = []
    for file in files:
        relative = file.relative_to(ROOT).as_posix()
        for module in _third_party_imports(file) - CHECKED_FIRST.get(relative, set()):
            providers = {_name(d) for d in distributions.get(module, [module])}
            if not providers & CORE:
                outside.append(f"{relative}: {module}")
    assert not outside, f"imported without being in `dependencies`: {outside}"


@pytest.fixture
def bot_only_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a machine without the engine: no process started with it can
    import the GPU stack (a sitecustomize marks each module missing)."""
    return without_modules(tmp_path, list(ENGINE_MODULES))


@pytest.mark.parametrize(
    "command", [["engine"], ["engine", "--until-idle"], ["tiny-model", "tiny"], ["download-models"]]
)
def test_engine_commands_on_a_bot_only_install_say_what_to_install(
    command: list[str], bot_only_env: dict[str, str]
) -> None:
    result = petbooth(*command, env=bot_only_env, timeout=60)

    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert f"`petbooth {command[0]}` needs the engine" in line
    assert line.endswith("pip install 'petbooth[engine]'")


def test_doctor_and_status_work_on_a_bot_only_install(bot_only_env: dict[str, str]) -> None:
    bot_only_env["PETBOOTH_DISCORD_TOKEN"] = "not-a-real-token"

    doctor = petbooth("doctor", env=bot_only_env, timeout=60)
    status = petbooth("status", env=bot_only_env, timeout=60)

    assert "Traceback" not in doctor.stderr + status.stderr
    assert "[warn] Engine: not installed here" in doctor.stdout
    assert "pip install 'petbooth[engine]'" in doctor.stdout
    assert "GPU" not in doctor.stdout and "Models" not in doctor.stdout
    assert "[ok  ] Discord token" in doctor.stdout and "[ok  ] Database" in doctor.stdout
    assert status.returncode == 0 and "none running" in status.stdout


def _index_reachable(pip: str, dest: Path, env: dict[str, str]) -> bool:
    """Can pip fetch the build backend and a base dependency (their newest versions)?"""
    probe = subprocess.run(
        [pip, "download", "--quiet", "--no-deps", "--dest", str(dest), "hatchling", "discord.py"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    return probe.returncode == 0


def _fresh(env: dict[str, str]) -> dict[str, str]:
    """No trace of this checkout's venv: the fresh one must stand on its own."""
    drop = {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"}
    return {k: v for k, v in env.items() if k not in drop}


@pytest.mark.slow
def test_the_bot_installs_and_runs_without_torch_in_a_fresh_venv(tmp_path: Path) -> None:
    """The real thing: `pip install <this checkout>` (no extras) into an empty venv, then the
    bot's imports and the CLI from there. About 30 s on a 2-core machine, warm pip cache or
    not."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pip, python = str(venv / "bin" / "pip"), str(venv / "bin" / "python")
    env = _fresh(engine_env(tmp_path / "data", tmp_path / "no-model"))

    install = subprocess.run(
        [pip, "install", "--quiet", "-c", str(ROOT / "constraints.txt"), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    if install.returncode != 0 and not _index_reachable(pip, tmp_path / "probe", env):
        pytest.skip("the package index is unreachable: cannot install into a fresh venv")
    assert install.returncode == 0, install.stderr[-3000:]

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        # cwd outside the checkout, so `bot` and `engine` come from the venv, not from here
        return subprocess.run(
            argv, capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path
        )

    assert run(pip, "show", "torch").returncode != 0, "the base install pulled torch"
    imports = run(python, "-c", _IMPORT_EVERYTHING_TORCH_FREE)
    assert imports.returncode == 0, imports.stderr
    assert imports.stdout.split() == ["venv", "none-heavy"], imports.stdout

    petbooth_bin = str(venv / "bin" / "petbooth")
    assert run(petbooth_bin, "--help").returncode == 0
    status = run(petbooth_bin, "status")
    assert status.returncode == 0, status.stderr
    engine = run(petbooth_bin, "engine")
    assert engine.returncode == 2 and "pip install 'petbooth[engine]'" in engine.stderr
    assert "Traceback" not in engine.stderr
    # the single-machine supervisor gives up on its engine and says why, instead of hanging
    supervised = run(petbooth_bin, "run", "--no-bot")
    assert supervised.returncode == 2, supervised.stderr
    assert "pip install 'petbooth[engine]'" in supervised.stderr


_IMPORT_EVERYTHING_TORCH_FREE = """
import importlib, pkgutil, sys
import bot, engine
names = ["bot.__main__", *(m.name for m in pkgutil.walk_packages(bot.__path__, "bot."))]
for package in ("store", "intake", "orders", "operations"):
    module = importlib.import_module(f"engine.{package}")
    names += [m.name for m in pkgutil.walk_packages(module.__path__, f"engine.{package}.")]
names += ["engine.settings", "engine.cli"]
for name in names:
    importlib.import_module(name)
print("venv" if bot.__file__.startswith(sys.prefix) else f"not-venv:{bot.__file__}")
heavy = [m for m in ("torch", "diffusers", "transformers", "peft", "numpy") if m in sys.modules]
print(" ".join(heavy) or "none-heavy")
"""
