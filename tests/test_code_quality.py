"""The static checks run with the tests: ruff (lint and format), mypy strict, import-linter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - fixed commands
        command, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
    )


@pytest.mark.parametrize(
    "command",
    [
        ("ruff", "check", "src", "tests", "bench"),
        ("ruff", "format", "--check", "src", "tests", "bench"),
        ("mypy",),
        ("lint-imports",),
    ],
    ids=["ruff-check", "ruff-format", "mypy-strict", "import-linter"],
)
def test_static_check_passes(command: tuple[str, ...]) -> None:
    executable = Path(sys.executable).parent / command[0]
    result = run(str(executable) if executable.exists() else command[0], *command[1:])
    assert result.returncode == 0, result.stdout + result.stderr
