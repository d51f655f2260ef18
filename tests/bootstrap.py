"""venv-bootstrap/bootstrap.sh as the tests run it: into the running interpreter's venv, no install."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "venv-bootstrap" / "bootstrap.sh"


def run_bootstrap(project: Path, wrapper: Path, *options: str) -> subprocess.CompletedProcess[str]:
    """Write the exec wrapper for ``project`` at ``wrapper``; the caller checks the result."""
    venv = Path(sys.executable).parent.parent
    command = ["sh", str(SCRIPT), "--project", str(project), "--venv", str(venv), *options]
    return subprocess.run(
        [*command, "--wrapper", str(wrapper), "--no-install"], capture_output=True, text=True, timeout=60
    )
