"""Shared by the benchmark scripts: name the machine, append results to BENCHMARKS.md."""

from __future__ import annotations

import datetime as dt
import os
import platform
import resource
from pathlib import Path

# BENCHMARKS_FILE redirects the rows (the kit's dry run in the tests writes elsewhere).
BENCHMARKS = Path(
    os.environ.get("BENCHMARKS_FILE") or Path(__file__).resolve().parent.parent / "BENCHMARKS.md"
)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    described = f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"
    try:
        import torch

        if torch.cuda.is_available():
            described = f"{torch.cuda.get_device_name()} + {described}"
        described += f", torch {torch.__version__}"
    except ImportError:
        pass
    return described


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def append_section(title: str, rows: list[dict[str, object]], notes: str = "") -> str:
    """A markdown table under a dated heading, appended to BENCHMARKS.md; returns the text."""
    columns = list(rows[0])
    lines = [
        f"\n## {title}",
        f"_{dt.date.today().isoformat()} on {machine()}_\n",
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
        *("| " + " | ".join(str(row[c]) for c in columns) + " |" for row in rows),
    ]
    steering = " ".join(
        f"{k}={v}"
        for k, v in sorted(os.environ.items())
        if k.startswith("PETBOOTH_") or k == "OMP_NUM_THREADS"
    )
    if steering:
        notes = f"{notes} with {steering}".strip()
    if notes:
        lines += ["", notes]
    text = "\n".join(lines) + "\n"
    if not BENCHMARKS.exists():
        BENCHMARKS.write_text("# petbooth benchmarks\n\nEach section names its machine.\n")
    with BENCHMARKS.open("a") as out:
        out.write(text)
    return text


def peak_vram_gib() -> float | str:
    """The CUDA allocator's peak in GiB, or "-" on a machine without CUDA."""
    import torch

    if not torch.cuda.is_available():
        return "-"
    return round(torch.cuda.max_memory_allocated() / 2**30, 2)


def record(
    script: str, title: str, row: dict[str, object], argv: list[str], write: bool = True
) -> None:
    """Print the row and (unless `write` is off) append it to BENCHMARKS.md under `title`,
    naming the command that measured it."""
    print(row)
    if not write:
        return
    command = f"`python bench/{script} " + " ".join(argv) + "`"
    print(append_section(title, [row], notes=command))
