"""Running `scaler run` for tests: in-process through click (fast) and reading its three files."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner

from scaler.cli import main


@dataclass
class Run:
    exit_code: int
    stdout: str
    stderr: str
    rows: list[dict]
    nodes: list[dict]
    meta: dict

    def col(self, name: str, cast=int) -> list:
        return [cast(r[name]) for r in self.rows]


def read_run(csv_path: Path) -> tuple[list[dict], list[dict], dict]:
    stem = csv_path.name[:-4]
    rows = list(csv.DictReader(open(csv_path, newline="")))
    nodes = list(csv.DictReader(open(csv_path.with_name(stem + ".nodes.csv"), newline="")))
    meta = json.loads(csv_path.with_name(stem + ".meta.json").read_text())
    return rows, nodes, meta


def scaler_run(tmp_path: Path, *args: str, name: str = "run.csv", env=None) -> Run:
    out = tmp_path / name
    res = CliRunner().invoke(main, ["run", "-q", "-o", str(out), *args], env=env,
                             catch_exceptions=False)
    rows, nodes, meta = read_run(out) if out.exists() else ([], [], {})
    return Run(res.exit_code, res.stdout, res.stderr, rows, nodes, meta)
