"""Fixtures shared by the tests: the repository, an environment for child processes that import
this checkout, and `scaler` run as a real process (the way users run it)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# The tests send Ctrl-C (SIGINT) to runs, servers and scripts as a terminal would. A shell without
# job control starts background commands ignoring SIGINT, and every child would inherit that
# (and rightly keep ignoring it: scaler.signals): the tests' processes get Python's own handler,
# which their children reset to the default, wherever the tests were started from.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def repo() -> Path:
    """The repository root."""
    return REPO


@pytest.fixture
def child_env() -> dict[str, str]:
    """The environment for a child Python process that must import this checkout."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


@pytest.fixture
def scaler_cmd(tmp_path: Path, child_env: dict[str, str]
               ) -> Callable[..., subprocess.CompletedProcess[str]]:
    """``scaler_cmd("run", "--max-replicas", "3")``: `python -m scaler ...` in its own process,
    in the test's temporary directory; stdout and stderr captured as text."""

    def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "scaler", *args], cwd=tmp_path,
                              capture_output=True, text=True, timeout=timeout, env=child_env)

    return run
