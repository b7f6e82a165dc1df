"""engine.intake as the bot imports it: Pillow and the standard library only."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]


def test_importing_intake_does_not_import_torch() -> None:
    code = "import sys, engine.intake; sys.exit('torch' in sys.modules)"

    completed = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, check=False)

    assert completed.returncode == 0, "engine.intake imported torch"
