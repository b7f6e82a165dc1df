"""engine.logs in a fresh process (its root logger unconfigured, as in `petbooth engine`):
the formats, the job id, and the third-party noise it drops."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.engine_env import engine_env, petbooth

SCRIPT = textwrap.dedent(
    """
    import logging, sys, warnings
    from engine.logs import configure_logging, job_context

    configure_logging(logging.INFO, sys.argv[1])
    logging.getLogger("engine.process").info("engine started")
    with job_context(7):
        logging.getLogger("engine.training.progress").info("job 7: step 1/2")
    logging.getLogger("bitsandbytes.backends.cpu.ops").warning(
        "Failed to load CPU gemm_4bit_forward from kernels-community: No module named 'kernels'"
    )
    logging.getLogger("transformers.utils.import_utils").warning(
        "`CLIPImageProcessor` requires torchvision (not installed); falling back"
    )
    warnings.warn("Already found a `peft_config` attribute in the model. Careful!")
    warnings.warn("The `local_dir_use_symlinks` argument is deprecated and ignored")
    warnings.warn("something an operator should see")
    logging.getLogger("engine.process").debug("below the level")
    """
)


def run(log_format: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, log_format], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    return done.stderr.splitlines()


def test_json_is_one_object_a_line_with_the_job_when_known() -> None:
    entries = [json.loads(line) for line in run("json")]

    assert [(e["level"], e["logger"], e.get("job_id")) for e in entries] == [
        ("INFO", "engine.process", None),
        ("INFO", "engine.training.progress", 7),
        ("WARNING", "py.warnings", None),
    ]
    assert entries[1]["message"] == "job 7: step 1/2"
    assert "something an operator should see" in entries[2]["message"]
    assert entries[0]["time"].endswith("+00:00")


def test_text_lines_drop_the_noise_and_keep_the_rest() -> None:
    lines = run("text")

    assert len(lines) == 4  # the warning spans two: its message, then its source line
    assert lines[0].endswith(" INFO engine.process: engine started")
    assert lines[1].endswith(" INFO engine.training.progress: job 7: step 1/2")
    assert "UserWarning: something an operator should see" in lines[2]


def test_a_log_format_from_the_environment_is_checked(tmp_path: Path) -> None:
    env = engine_env(tmp_path / "data", tmp_path, PETBOOTH_LOG_FORMAT="xml")

    refused = petbooth("status", env=env)

    assert refused.returncode == 2
    assert "PETBOOTH_LOG_FORMAT must be one of text, json" in refused.stderr
