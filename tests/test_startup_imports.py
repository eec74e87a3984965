"""`scaler --help` (and every subcommand's --help) loads nothing heavy: SSH, numpy, polars,
Altair, the cluster drivers and the engine are imported by the commands that use them. And the
package layering holds: ``manifests`` is YAML and imports nothing of scaler."""

import subprocess
import sys

import pytest

HEAVY = ("asyncssh", "numpy", "polars", "altair", "aiohttp", "yaml", "openshift_client",
         "scaler.engine", "scaler.session", "scaler.sim", "scaler.openshift", "scaler.simserve",
         "collectors.pool", "viz")

SHOW_MODULES = """
import sys
from scaler.cli import main
try:
    main(args=sys.argv[1:])
finally:
    sys.stderr.write("\\nMODULES " + " ".join(sorted(sys.modules)) + "\\n")
"""


def _modules(*args: str) -> set[str]:
    res = subprocess.run([sys.executable, "-c", SHOW_MODULES, *args], capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    line = next(x for x in res.stderr.splitlines() if x.startswith("MODULES "))
    return set(line.split()[1:])


@pytest.mark.parametrize("args", [["--help"], ["run", "--help"], ["nodes", "--help"],
                                  ["nodes", "probe", "--help"], ["sim", "--help"],
                                  ["sim", "serve", "--help"], ["--version"]])
def test_help_imports_nothing_heavy(args):
    modules = _modules(*args)
    loaded = sorted(m for m in modules for h in HEAVY if m == h or m.startswith(h + "."))
    assert not loaded, f"scaler {' '.join(args)} imported {loaded}"


def test_manifests_package_imports_nothing_of_scaler():
    code = "import sys, manifests; print(' '.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True).stdout.split()
    assert not [m for m in out if m == "scaler" or m.startswith("scaler.")]
