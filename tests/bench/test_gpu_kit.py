"""The GPU-day kit, as far as it runs without a GPU: `bench/gpu/prepare` fetches the listed
wheels for the GPU machine's Python and platform (here from a local wheel folder instead of
the package index) and checks the 64 MiB a device call carries; `bench/gpu/run tiny` runs a
measurement end to end on the CPU and leaves its row and log where the device tool collects
them."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def fake_wheel(folder: Path) -> Path:
    """A minimal pure-Python wheel, so pip can 'download' it with no network."""
    folder.mkdir(parents=True)
    wheel = folder / "kitprobe-1.0-py3-none-any.whl"
    info = "kitprobe-1.0.dist-info"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("kitprobe/__init__.py", "")
        archive.writestr(
            f"{info}/METADATA", "Metadata-Version: 2.1\nName: kitprobe\nVersion: 1.0\n"
        )
        archive.writestr(
            f"{info}/WHEEL",
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        archive.writestr(f"{info}/RECORD", "")
    return wheel


def prepare(tmp_path: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    fake_wheel(tmp_path / "index")
    (tmp_path / "wheels.txt").write_text("# what the image lacks\nkitprobe==1.0\n")
    env = {
        **os.environ,
        "PYTHON": sys.executable,
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": str(tmp_path / "index"),
        "WHEELS_LIST": str(tmp_path / "wheels.txt"),
        "WHEELS_DIR": str(tmp_path / "whl"),
        **extra,
    }
    return subprocess.run(
        ["bash", "bench/gpu/prepare"], cwd=ROOT, env=env, capture_output=True, text=True
    )


def test_prepare_fetches_the_wheels_and_prints_the_device_command(tmp_path: Path) -> None:
    done = prepare(tmp_path)

    assert done.returncode == 0, done.stderr
    assert [p.name for p in (tmp_path / "whl").iterdir()] == ["kitprobe-1.0-py3-none-any.whl"]
    assert "carried in all:" in done.stdout and "of 64" in done.stdout
    assert "bash bench/gpu/run" in done.stdout and 'carry [".whl"]' in done.stdout


def test_prepare_refuses_a_kit_over_the_carry_limit(tmp_path: Path) -> None:
    done = prepare(tmp_path, CARRY_LIMIT_MIB="0")

    assert done.returncode == 1
    assert "too big for one device call" in done.stderr


def test_the_device_script_dry_runs_a_measurement_on_the_cpu(tmp_path: Path) -> None:
    benchmarks, out = tmp_path / "BENCHMARKS.md", tmp_path / "out"
    out.mkdir()
    env = {
        **os.environ,
        "PYTHON": sys.executable,
        "OUT": str(out),
        "ONLY": "concurrent",
        "BENCHMARKS_FILE": str(benchmarks),
        "OMP_NUM_THREADS": "1",
    }
    done = subprocess.run(
        ["timeout", "-k", "5", "240", "bash", "bench/gpu/run", "tiny"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )

    log = (out / "gpu-run.log").read_text()
    assert done.returncode == 0, log
    assert "== concurrent: exit 0" in done.stdout, log
    assert "== train" not in log  # ONLY picked one measurement
    section = (out / "BENCHMARKS.md").read_text()
    assert "## /imagine during a training: tiny SDXL, 64 px" in section
    assert "| tiny | 64 | 9 | 4 |" in section  # training steps, picture steps
