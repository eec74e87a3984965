"""A run is a distribution: repeats grouped (contract 7), median and spread on known inputs."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from tests.viz_support import Synthetic, write_repeats, write_run
from viz.cli import main
from viz.compare import Comparison
from viz.stats import ratio_spread, spread, t975

CAPACITIES = [100, 104, 110, 96, 120]
MIB = [480.0, 500.0, 490.0, 470.0, 510.0]


def run_cli(args: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    out, err = capsys.readouterr()
    assert exit_info.value.code == 0, err
    return out


def test_spread_of_known_values():
    s = spread([1.0, 2.0, 3.0, 4.0, 5.0])
    assert (s.median, s.low, s.high, s.mean) == (3.0, 1.0, 5.0, 3.0)
    half = 2.776 * math.sqrt(2.5) / math.sqrt(5)  # t(0.975, 4) * s / sqrt(n), s^2 = 2.5
    assert s.ci95 == pytest.approx((3 - half, 3 + half))
    four = spread([1.0, 2.0, 3.0, 10.0])
    assert four.median == 2.5 and four.ci95 is None  # an interval only from 5 runs
    missing = spread([1.0, None, 3.0, float("nan")])
    assert (missing.n, missing.reached, missing.median) == (4, 2, 2.0)
    assert spread([None, None]).median is None


def test_t_quantiles():
    assert t975(4) == 2.776 and t975(30) == 2.042
    assert t975(40) == pytest.approx(2.0211, abs=2e-4)  # beyond the table: the expansion
    assert t975(10_000) == pytest.approx(1.96, abs=1e-3)
    with pytest.raises(ValueError):
        t975(0)


def test_ratio_spread_of_known_values():
    a = spread([2.0, 4.0])
    b = spread([1.0, 2.0])
    r = ratio_spread(a, b)
    assert r.value == pytest.approx(3.0 / 1.5)
    assert (r.low, r.high, r.pairs) == (1.0, 4.0, 4)  # 2/2 and 4/1
    assert r.ci95 is None
    a5, b5 = spread([10.0, 11, 12, 13, 14]), spread([4.0, 5, 5, 5, 6])
    r5 = ratio_spread(a5, b5)
    assert r5.ci95 == pytest.approx((a5.ci95[0] / b5.ci95[1], a5.ci95[1] / b5.ci95[0]))


def repeats(tmp_path, runtime="kata", scale=1.0, handler=None):
    runs = [
        Synthetic(runtime=runtime, handler=handler, capacity=int(c / scale), mib_per_pod=m * scale,
                  steps=160)  # fmt: skip
        for c, m in zip(CAPACITIES, MIB, strict=True)
    ]
    group = f"{runtime}-capacity"
    return write_repeats(tmp_path, runs, group)


def test_report_of_a_repeat_directory_shows_median_and_spread(tmp_path, capsys):
    repeats(tmp_path / "rep")
    data = json.loads(run_cli(["report", str(tmp_path / "rep"), "--json"], capsys))
    (group,) = data["groups"]
    assert group["group"] == "kata-capacity" and group["n"] == 5
    assert [p.rsplit("/", 1)[1] for p in group["runs"]] == [f"kata-capacity-r{k}.csv" for k in range(1, 6)]
    top = group["figures"]["max_running"]
    assert (top["median"], top["min"], top["max"]) == (104, 96, 120)
    assert top["values"] == CAPACITIES
    sd = float(np.std(CAPACITIES, ddof=1))
    half = t975(4) * sd / math.sqrt(5)
    assert top["ci95"] == pytest.approx([np.mean(CAPACITIES) - half, np.mean(CAPACITIES) + half])
    mib = group["figures"]["mib_per_pod"]
    assert mib["median"] == pytest.approx(490) and mib["min"] == pytest.approx(470)
    text = run_cli(["report", str(tmp_path / "rep")], capsys)
    assert "kata-capacity (5 runs)" in text
    assert "104 [96–120]; 95% CI" in text
    assert "95% confidence interval of the mean, Student's t" in text


def test_compare_groups_repeats_and_gives_ratios_with_spread(tmp_path):
    repeats(tmp_path / "m")
    repeats(tmp_path / "m", runtime="default", handler="runc", scale=0.5)  # 2x the pods, half the MiB
    write_run(tmp_path / "m", Synthetic(runtime="kata", steps=160), name="lonely")  # a group of one
    cmp = Comparison.build([tmp_path / "m"])
    assert [(g.name, g.n) for g in cmp.groups] == [
        ("default-capacity", 5), ("kata-capacity", 5), ("lonely", 1)
    ]
    kata = next(g for g in cmp.groups if g.name == "kata-capacity")
    default = next(g for g in cmp.groups if g.name == "default-capacity")
    ratio = next(r for r in cmp.ratios if r.label == "capacity: MiB per pod, kata / default (runc)"
                 and r.num == cmp.labels[cmp.groups.index(kata)])  # fmt: skip
    assert ratio.value == pytest.approx(2.0)
    assert ratio.spread.low == pytest.approx(470 / 255) and ratio.spread.high == pytest.approx(510 / 235)
    a, b = kata.figures["mib_per_pod"], default.figures["mib_per_pod"]
    assert ratio.spread.ci95 == pytest.approx((a.ci95[0] / b.ci95[1], a.ci95[1] / b.ci95[0]))
    text = cmp.text()
    assert "values: median [min–max] over each group's runs" in text
    assert "2.00 [1.84–2.17]; 95% interval" in text
    data = cmp.to_dict()
    assert {g["n"] for g in data["groups"]} == {1, 5} and len(data["runs"]) == 11
