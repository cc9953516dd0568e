"""Run code as the unprivileged user ``nobody``, as any other local user of the machine
would: through ``runuser``, which needs root."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def _runs_as_nobody(python: str) -> bool:
    probe = subprocess.run(
        ["runuser", "-u", "nobody", "--", python, "-c", "import sys"],
        capture_output=True,
        check=False,
    )
    return probe.returncode == 0


def require_root() -> None:
    if os.geteuid() != 0 or shutil.which("runuser") is None:
        pytest.skip("needs root to switch to the user nobody")


def interpreter_for_nobody() -> list[str]:
    """The test's own interpreter if nobody may run it, else Debian's python3 of the same
    version pointed at this environment's packages (a pyenv under /root is unreadable)."""
    if _runs_as_nobody(sys.executable):
        return [sys.executable]
    system = f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}"
    if os.path.exists(system) and _runs_as_nobody(system):
        return [system]
    pytest.skip("no Python interpreter that the user nobody may run")


_PROBE = """
import json, os, sys
result = {}
for path in json.loads(sys.argv[1]):
    try:
        if os.path.isdir(path):
            os.listdir(path)
        else:
            with open(path, "rb") as handle:
                handle.read(1)
        result[path] = "read"
    except PermissionError:
        result[path] = "denied"
    except FileNotFoundError:
        result[path] = "missing"
print(json.dumps(result))
"""


def what_nobody_reads(paths: list[Path]) -> dict[str, str]:
    """For each path: "read" (file opened or directory listed), "denied" or "missing"."""
    require_root()
    command = [*interpreter_for_nobody(), "-c", _PROBE, json.dumps([str(p) for p in paths])]
    result = subprocess.run(
        ["runuser", "-u", "nobody", "--", *command],
        capture_output=True,
        text=True,
        check=True,
        cwd="/",
    )
    answer: dict[str, str] = json.loads(result.stdout)
    return answer
