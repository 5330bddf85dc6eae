"""The README's curl walk-through, run as it stands against a live server: every command
succeeds and every ``# ->`` line it shows is printed, in order."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from quizsvc.config import PROJECT_ROOT

pytestmark = pytest.mark.model

HEADING = "### A timed exam with curl"


def walkthrough() -> str:
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index(HEADING) :]
    found = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert found, "the walk-through's shell block"
    return found.group(1)


def expected_lines(block: str) -> list[str]:
    return [line[len("# -> ") :] for line in block.splitlines() if line.startswith("# -> ")]


def test_the_block_shows_what_it_promises() -> None:
    block = walkthrough()
    assert len(expected_lines(block)) >= 10
    # Every id is captured from a reply, none is left for the reader to fill in.
    for variable in ("EXAM", "ATTEMPT"):
        assert re.search(rf"^{variable}=\$\(", block, re.MULTILINE), variable


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
def test_readme_walkthrough_runs_verbatim(live_url: str, database_url: str, tmp_path: Path) -> None:
    block = walkthrough()
    quizsvc = Path(sys.executable).parent / "quizsvc"
    if not (PROJECT_ROOT / ".venv" / "bin" / "quizsvc").exists():
        pytest.skip("the walk-through calls .venv/bin/quizsvc; run it through `make test`")
    env = {
        **os.environ,
        "API": f"{live_url}/v1",
        "QUIZSVC_DATABASE_URL": database_url,
        "PATH": f"{quizsvc.parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    script = tmp_path / "walkthrough.sh"
    script.write_text("set -euo pipefail\n" + block, encoding="utf-8")
    ran = subprocess.run(
        ["bash", str(script)],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    printed = ran.stdout.splitlines()
    position = 0
    for line in expected_lines(block):
        assert line in printed[position:], (line, printed)
        position = printed.index(line, position) + 1
    # It leaves nothing behind in the checkout.
    assert not (PROJECT_ROOT / "result.json").exists()
