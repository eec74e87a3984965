"""The `viz` command line: outputs, and bad input as one stderr line with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.viz_support import Synthetic, write_run
from viz.cli import main

REPO = Path(__file__).resolve().parents[1]


def run_main(args: list[str], capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def test_report_text_and_json(tmp_path, capsys):
    path = write_run(tmp_path, Synthetic(steps=200, capacity=120))
    code, out, _ = run_main(["report", str(path)], capsys)
    assert code == 0
    assert "max running pods" in out and "120 at step 120" in out
    assert "simulated cluster" in out
    code, out, _ = run_main(["report", str(path), "--json"], capsys)
    figures = json.loads(out)["figures"]
    assert figures["knee"]["step"] == 121
    assert figures["mib_per_pod"]["value"] == pytest.approx(480)
    assert figures["timing_knee"]["step"] == pytest.approx(100, abs=2)
    assert all(f["method"] for f in figures.values())


def test_free_threshold_option(tmp_path, capsys):
    syn = Synthetic(steps=200, capacity=190, mib_per_pod=400, base_used_mib=4000)
    path = write_run(tmp_path, syn)
    # free = 81920 - 4000 - 400 * step: under 10,000 MiB first at step 170
    code, out, _ = run_main(["report", str(path), "--json", "--free-threshold", "10000"], capsys)
    assert json.loads(out)["figures"]["free_below_threshold"]["step"] == syn.first_free_below(10000)
    assert syn.first_free_below(10000) == 170


@pytest.mark.parametrize(
    ("args", "content", "needle"),
    [
        (["report"], None, "no such file"),
        (["plot"], b"", "file is empty"),
        (["report"], b"\0\0\0\0", "binary"),
        (["report"], b"a,b\n1,2\n", "missing required column"),
        (["report"], b"step,elapsed_s,requested,running\n1,nan,1,1\n", "elapsed_s hold no values"),
        (["compare"], b"", "file is empty"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, args, content, needle):
    path = tmp_path / "in.csv"
    if content is not None:
        path.write_bytes(content)
    code, out, err = run_main(
        [*args, str(path), *(["-o", str(tmp_path)] if args[0] != "report" else [])], capsys
    )
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("viz: error: ") and needle in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["plot"], "Missing argument"),
        (["nonsense"], "No such command"),
        (["plot", "x.csv", "--format", "gif"], "unknown format gif"),
        (["report", "x.csv", "--free-threshold", "lots"], "is not a valid float"),
    ],
)
def test_usage_errors_exit_2_with_one_line(capsys, args, needle):
    code, _, err = run_main(args, capsys)
    assert code == 2 and err.count("\n") == 1 and needle in err


def test_unwritable_output_directory(tmp_path, capsys):
    path = write_run(tmp_path, Synthetic(steps=20))
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _, err = run_main(
        ["plot", str(path), "-o", str(blocker / "sub"), "--format", "svg"], capsys
    )
    assert code == 2 and "cannot create output directory" in err and err.count("\n") == 1


def test_module_entry_point_has_no_traceback(tmp_path):
    bad = tmp_path / "notes.csv"
    bad.write_text("just some text\nwith lines, and commas, here\n")
    proc = subprocess.run(
        [sys.executable, "-m", "viz", "report", str(bad)], capture_output=True, text=True, cwd=REPO,
        timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and str(bad) in proc.stderr
    assert proc.stdout == ""


def test_version(capsys):
    code, out, _ = run_main(["--version"], capsys)
    assert code == 0 and out.startswith("viz ") and out.strip() != "viz"


@pytest.mark.parametrize("value", ["-5", "0", "nan"])
def test_free_threshold_must_be_positive(tmp_path, capsys, value):
    path = write_run(tmp_path, Synthetic(steps=20))
    code, _, err = run_main(["report", str(path), "--free-threshold", value], capsys)
    assert code == 2 and err.count("\n") == 1 and "--free-threshold" in err


@pytest.mark.parametrize(
    ("name", "needle"),
    [
        ("runc.meta.json", "is a run's metadata (JSON), not its data; give the run's CSV (runc.csv)"),
        ("runc.nodes.csv", "is a node-sample file, not a run CSV; give the run's CSV (runc.csv)"),
    ],
)
def test_the_other_files_of_a_run_are_named_not_parsed(tmp_path, capsys, name, needle):
    write_run(tmp_path, Synthetic(steps=20))
    code, out, err = run_main(["report", str(tmp_path / name)], capsys)
    assert code == 2 and err.count("\n") == 1 and needle in err and out == ""
    assert "Schema" not in err and "polars" not in err


def test_help_imports_no_heavy_library():
    """`viz --help` must start as fast as a bare interpreter allows: numpy, polars and Altair
    are imported by the commands that use them, not by the command line itself."""
    code = (
        "import sys\n"
        "from viz.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('numpy', 'polars', 'altair', 'vl_convert') if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                          timeout=60)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"
    assert "viz compare runs/kata.csv --reference c3d-2021/kata" in proc.stdout


def test_report_of_every_published_file_format(capsys):
    """The CPU runs' format reads as a legacy run too: their report has the usual figures."""
    from tests.viz_support import REFERENCE

    code, out, _ = run_main(["report", str(REFERENCE / "cpu-kata-100pct.csv"), "--json"], capsys)
    data = json.loads(out)
    assert code == 0 and data["run"]["format"] == "original"
    assert data["run"]["reference"] == "c3d-2021/cpu-kata-100pct"
    assert data["figures"]["max_running"]["value"] == 136
