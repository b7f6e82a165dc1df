"""engine.store as the bot imports it: without torch."""

from __future__ import annotations

import subprocess
import sys


def test_store_imports_without_torch() -> None:
    code = (
        "import sys, engine.store, engine.settings; "
        "assert 'torch' not in sys.modules, 'torch imported'; "
        "assert 'diffusers' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
