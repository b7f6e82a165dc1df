"""The Dockerfile, compose file and README stay true to the repository (no Docker engine
here, so they are checked by reading): two images from one Dockerfile, a slim bot without
torch and a CUDA engine, run by compose as two services sharing the data volume."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
GPU_STACK = ("torch", "diffusers", "transformers", "peft", "accelerate", "bitsandbytes")


def _stages() -> dict[str, str]:
    """Each build stage's text, by its `AS` name."""
    stages = {}
    for block in re.split(r"^(?=FROM )", DOCKERFILE, flags=re.MULTILINE)[1:]:
        name = re.match(r"FROM \S+ AS (\w+)", block)
        assert name, f"unnamed stage: {block.splitlines()[0]}"
        stages[name.group(1)] = block
    return stages


def _requirement_names(requirements: list[str]) -> list[str]:
    names = []
    for requirement in requirements:
        match = re.match(r"[A-Za-z0-9._-]+", requirement)
        assert match, requirement
        names.append(match.group())
    return names


def _project_name(name: str) -> str:
    """A distribution's name as pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(text: str, quoted: bool) -> dict[str, str]:
    """`name==version` pins in a Dockerfile (quoted, extras allowed) or a requirements file."""
    pattern = r'"([A-Za-z0-9._-]+)(?:\[[\w,]+\])?==([\d.]+)"' if quoted else r"^([\w.-]+)==(\S+)$"
    return {_project_name(n): v for n, v in re.findall(pattern, text, re.MULTILINE)}


CONSTRAINTS = _pins((ROOT / "constraints.txt").read_text(), quoted=False)


def _compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def test_dockerfile_copies_only_files_that_exist() -> None:
    sources = []
    for line in DOCKERFILE.splitlines():
        if line.startswith("COPY "):
            sources += line.split()[1:-1]
    assert sources, "the Dockerfile copies nothing"
    for source in sources:
        assert (ROOT / source).exists(), f"Dockerfile copies missing {source}"


def test_two_targets_a_slim_bot_and_a_cuda_engine() -> None:
    stages = _stages()
    assert list(stages) == ["bot", "engine"]  # engine last: what a plain `docker build .` makes
    assert re.match(r"FROM python:[\d.]+-slim", stages["bot"])
    assert re.match(r"FROM nvidia/cuda:", stages["engine"])
    for stage in stages.values():
        assert re.search(r"^FROM \S+:\d", stage, re.MULTILINE), "base image tag is pinned"


def test_the_bot_image_never_installs_the_gpu_stack() -> None:
    instructions = [line for line in _stages()["bot"].splitlines() if not line.startswith("#")]
    bot = "\n".join(instructions).lower()
    for package in (*GPU_STACK, "safetensors", "matplotlib", "[engine]", "nvidia"):
        assert package not in bot, f"the bot stage installs {package}"
    assert "pip install --no-deps ." in bot  # petbooth itself, no extras


def test_each_image_pins_what_the_project_tested() -> None:
    """Every dependency of its install, pinned; nothing outside it."""
    core = _requirement_names(PROJECT["dependencies"])
    engine = _requirement_names(PROJECT["optional-dependencies"]["engine"])
    for stage, wanted in (("bot", core), ("engine", core + engine)):
        pinned = _pins(_stages()[stage], quoted=True)
        assert sorted(pinned) == sorted(map(_project_name, wanted)), stage


def test_every_pin_is_the_release_the_tests_ran_on() -> None:
    """The images and the GPU kit install what constraints.txt (so `make test`) installs."""
    assert {"torch", "diffusers", "discord-py", "pytest"} <= CONSTRAINTS.keys()
    kit = (ROOT / "bench" / "gpu" / "wheels.txt").read_text()
    for where, pins in (
        ("Dockerfile", _pins(DOCKERFILE, quoted=True)),
        ("GPU kit", _pins(kit, quoted=False)),
    ):
        assert pins, where
        differ = {n: (v, CONSTRAINTS.get(n)) for n, v in pins.items() if CONSTRAINTS.get(n) != v}
        assert differ == {}, f"{where} pins other releases than constraints.txt: {differ}"


def test_each_image_runs_its_part_as_a_non_root_user_with_a_healthcheck() -> None:
    stages = _stages()
    scripts = PROJECT["scripts"]
    assert "petbooth" in scripts
    assert 'CMD ["petbooth", "bot"]' in stages["bot"]
    assert 'CMD ["petbooth", "run", "--no-bot"]' in stages["engine"]
    assert 'VOLUME ["/data"]' in stages["bot"]
    assert 'VOLUME ["/data", "/models"]' in stages["engine"]
    users = set()
    for stage in stages.values():
        user = re.search(r"^USER (\w+)", stage, re.MULTILINE)
        assert user and user.group(1) != "root", "runs as non-root"
        uid = re.search(r"useradd .*--uid (\d+)", stage)
        assert uid, "the user has a fixed uid"
        users.add(uid.group(1))
        assert "HEALTHCHECK" in stage and 'ENTRYPOINT ["tini", "--"]' in stage
    assert len(users) == 1, "one uid, so both can write what the other wrote to /data"


def _healthcheck(stage: str) -> list[str]:
    command = re.search(r"HEALTHCHECK .*?CMD (\[.*?\])", stage, re.DOTALL)
    assert command, "no HEALTHCHECK CMD"
    return yaml.safe_load(command.group(1))


def test_compose_runs_the_bot_and_the_engine_as_two_services() -> None:
    services = {n: s for n, s in _compose()["services"].items() if "profiles" not in s}
    assert set(services) == {"bot", "engine"}
    for name, service in services.items():
        assert service["build"] == {"context": ".", "target": name}
        assert "petbooth-data:/data" in service["volumes"]
        assert service["healthcheck"]["test"] == ["CMD", *_healthcheck(_stages()[name])]
        assert service["restart"] == "unless-stopped"
    assert services["engine"]["healthcheck"]["test"][-1] == "--liveness"
    assert services["bot"]["healthcheck"]["test"][-2:] == ["--liveness", "bot"]


def test_compose_scale_profile_adds_postgres_and_a_second_bot_shard() -> None:
    services = _compose()["services"]
    scale = {n: s for n, s in services.items() if s.get("profiles") == ["scale"]}
    assert set(scale) == {"postgres", "bot-shard-1"}
    assert scale["postgres"]["image"].startswith("postgres:")
    shard = scale["bot-shard-1"]
    assert shard["image"] == services["bot"]["image"]
    assert shard["environment"]["PETBOOTH_DISCORD_SHARD_IDS"] == "[1]"
    assert shard["healthcheck"]["test"] == services["bot"]["healthcheck"]["test"]
    assert shard["depends_on"]["postgres"]["condition"] == "service_healthy"
    # The first bot holds the shards .env gives it (unsharded, "null", when none).
    assert services["bot"]["environment"]["PETBOOTH_DISCORD_SHARD_IDS"] == (
        "${PETBOOTH_BOT_SHARD_IDS:-null}"
    )


def test_compose_gives_only_the_engine_the_gpu_and_the_model_cache() -> None:
    services = _compose()["services"]
    engine, bot = services["engine"], services["bot"]
    (device,) = engine["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"]
    assert "hf-models:/models" in engine["volumes"]
    assert "deploy" not in bot and "hf-models:/models" not in bot["volumes"]
    assert set(_compose()["volumes"]) == {"petbooth-data", "hf-models", "postgres-data"}


def test_readme_install_and_docker_sections_name_the_split() -> None:
    readme = (ROOT / "README.md").read_text()
    assert 'pip install "petbooth[engine]"' in readme
    assert "--target bot" in readme or "target: bot" in readme
    assert "docker compose up -d" in readme


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "make run" in readme
    assert ci.strip().splitlines()[-1] == "make test"


def test_make_setup_installs_the_engine_and_setup_test_the_test_extra() -> None:
    makefile = (ROOT / "Makefile").read_text()
    setup = makefile.split("\nsetup:")[1].split("\n\n")[0]
    setup_test = makefile.split("\nsetup-test:")[1].split("\n\n")[0]
    assert 'pip install --quiet $(PIN) -e ".[engine]"' in setup
    assert 'pip install --quiet $(PIN) -e ".[test]"' in setup_test
    assert "PIN    := -c constraints.txt" in makefile  # the releases the tests ran on
    for recipe in (setup, setup_test):
        assert '$(PIN) "$(CPU_TORCH)"' in recipe  # the CPU wheel first, so no CUDA download
