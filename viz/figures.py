"""The figures of a run, defined once for the engine (step by step) and viz (a whole file).

- ``knee``: where running stops tracking requested. A reported figure, not a stop.
- ``free_below``: the first step where total free memory falls under a threshold.
- the stop rule (``StopRule``, ``StopDetector``, ``stop_step``): the cluster has stopped gaining.
- ``cpu_knee``: where the useful work per running pod starts to fall (the CPU runs).

Each figure uses only the data up to the point it names (the knee: up to a fixed look-ahead
past it), so a longer run never moves a figure already found, and the engine, which sees one
step at a time, finds the same figures as viz does on the file afterwards. Every figure comes
with the sentence saying how it was computed; viz prints it as the figure's method.

Pure numpy, importable by both ``scaler`` and ``viz`` (viz never imports scaler). Arrays are
ordered by step; running and free memory may hold NaN (no observation); requested is finite.
Arguments come in one order everywhere: step, [seconds,] requested, running.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]
ArrayLike = npt.ArrayLike

DEFAULT_FREE_THRESHOLD_MIB = 1024.0
TOLERANCE_PODS = 2.0
TOLERANCE_FRACTION = 0.01
KNEE_LOOKAHEAD = 30
KNEE_TRACKING_STEPS = 10
KNEE_BEHIND = 0.5


@dataclass(frozen=True)
class Figure:
    """One figure: the step it names (None when not reached), its row index, and how."""

    step: float | None
    index: int | None
    method: str


def _f(x: ArrayLike) -> Array:
    return np.asarray(x, dtype=np.float64)


# -- the tolerance rule ------------------------------------------------------------------------


def tolerance(level: float) -> float:
    """Pods above ``level`` that count as a real gain: max(2, 1 % of level).

    A saturated cluster's running count moves by a pod now and then (an evicted pod replaced, a
    slow start finishing); that is not growth, and must not keep a run going forever.
    """
    return max(TOLERANCE_PODS, TOLERANCE_FRACTION * level)


def is_gain(running: float, anchor: float | None) -> bool:
    """``running`` is a real gain over ``anchor``, the last gain (None: any pod is the first)."""
    if not math.isfinite(running):
        return False
    if anchor is None:
        return running > 0
    return running >= anchor + tolerance(anchor)


TOLERANCE_TEXT = (
    f"max({TOLERANCE_PODS:g}, {TOLERANCE_FRACTION:.0%}) pods above the previous gain"
)


# -- knee --------------------------------------------------------------------------------------


def high_water(running: ArrayLike) -> Array:
    """Highest running count so far (0 before any; NaN carries it): a dip is not lost capacity."""
    r = _f(running)
    return np.maximum.accumulate(np.where(np.isfinite(r), r, 0.0)) if r.size else r


def _tracks(lag0: ArrayLike, lag1: ArrayLike, req0: ArrayLike, req1: ArrayLike,
            behind: float) -> npt.NDArray[np.bool_]:
    """Over a window from 0 to 1, requested grew and running fell behind by less than
    ``behind`` of that growth (it kept pace). Elementwise."""
    grew = _f(req1) - _f(req0)
    return (grew > 0) & (_f(lag1) - _f(lag0) < behind * grew)


def _departs(lags: Array, req: Array, short: int,
             behind: float) -> npt.NDArray[np.bool_]:
    """One row per candidate k: ``lags``/``req`` hold lag and requested at k-1, k, ..., k+L.
    From k-1, running never wins back the ground it lost (its lag stays above the lag at k-1)
    and loses at least ``behind`` of what requested added, both over the first ``short`` steps
    (so the knee is where the pace changed, not where a long average tipped) and over all L."""
    base, req0 = lags[:, 0], req[:, 0]

    def lost(j: int) -> npt.NDArray[np.bool_]:
        grew = req[:, j] - req0
        out: npt.NDArray[np.bool_] = (grew > 0) & (lags[:, j] - base >= behind * grew)
        return out

    never_back: npt.NDArray[np.bool_] = np.min(lags[:, 1:], axis=1) > base
    return never_back & lost(short) & lost(-1)


def _check_knee(lookahead: int, tracking: int, behind: float) -> None:
    if not 1 <= tracking <= lookahead:
        raise ValueError("knee: need 1 <= tracking window <= look-ahead")
    if not 0 < behind < 1:
        raise ValueError("knee: the share of requested must be in (0, 1)")


def knee_method(lookahead: int = KNEE_LOOKAHEAD, tracking: int = KNEE_TRACKING_STEPS,
                behind: float = KNEE_BEHIND) -> str:
    keep = 1.0 - behind
    return (
        "first step where running (its highest count so far) falls behind requested, then "
        f"gains at most {keep:.0%} of what requested added over the next {tracking} steps and "
        f"over the next {lookahead}, never winning that ground back within them; searched "
        f"from the end of the first {tracking}-step window in which it gained more than "
        f"{keep:.0%}"
    )


def knee(step: ArrayLike, requested: ArrayLike, running: ArrayLike, *,
         lookahead: int = KNEE_LOOKAHEAD, tracking: int = KNEE_TRACKING_STEPS,
         behind: float = KNEE_BEHIND) -> Figure:
    """Where running stops tracking requested (see ``knee_method``).

    The knee at step k is decided by steps up to k + ``lookahead`` only: a longer run never
    moves it, and the engine finds it ``lookahead`` steps after it happened. For
    running = min(requested, C) it is the first step after running reached C.
    """
    _check_knee(lookahead, tracking, behind)
    step, req = _f(step), _f(requested)
    method = knee_method(lookahead, tracking, behind)
    n = step.size
    lag = req - high_water(running)
    if n <= tracking:
        return Figure(None, None, method + f" (run shorter than {tracking + 1} steps)")
    tr = _tracks(lag[:-tracking], lag[tracking:], req[:-tracking], req[tracking:], behind)
    if not tr.any():
        return Figure(None, None, method + " (running never kept pace)")
    first_track = int(np.argmax(tr))
    if n < lookahead + 2:
        return Figure(None, None, method + f" (not found in the first {n} steps)")
    # Candidate k (k >= 1) looks at lag[k-1 .. k+lookahead].
    view = np.lib.stride_tricks.sliding_window_view
    ok = _departs(view(lag, lookahead + 2), view(req, lookahead + 2), tracking, behind)
    ok[:first_track + tracking - 1] = False  # k must not come before that window's end
    if not ok.any():
        return Figure(None, None, method + f" (not found in the first {n} steps)")
    k = int(np.argmax(ok)) + 1
    return Figure(float(step[k]), k, method)


class KneeTracker:
    """``knee`` one step at a time, for the engine; same rule, same answer (it evaluates each
    candidate once its look-ahead has arrived, with the same functions)."""

    def __init__(self, *, lookahead: int = KNEE_LOOKAHEAD, tracking: int = KNEE_TRACKING_STEPS,
                 behind: float = KNEE_BEHIND):
        _check_knee(lookahead, tracking, behind)
        self.lookahead, self.tracking, self.behind = lookahead, tracking, behind
        self.method = knee_method(lookahead, tracking, behind)
        self._n = 0
        self._high = 0.0
        self._lag: deque[float] = deque(maxlen=lookahead + 2)
        self._req: deque[float] = deque(maxlen=lookahead + 2)
        self._step: deque[float] = deque(maxlen=lookahead + 2)
        self._first_track: int | None = None
        self.step: float | None = None  # the knee, once found
        self.index: int | None = None

    def update(self, step: float, requested: float, running: float) -> float | None:
        """Add one step; returns the knee's step once found (from then on, always the same)."""
        if math.isfinite(running):
            self._high = max(self._high, running)
        self._lag.append(requested - self._high)
        self._req.append(requested)
        self._step.append(step)
        i = self._n  # index of this row
        self._n += 1
        if self.step is not None:
            return self.step
        t = self.tracking
        if self._first_track is None and i >= t:
            a = len(self._lag) - 1 - t
            if bool(_tracks(self._lag[a], self._lag[-1], self._req[a], self._req[-1],
                            self.behind)):
                self._first_track = i - t
        k = i - self.lookahead  # the candidate whose look-ahead is now complete
        if self._first_track is not None and k >= max(1, self._first_track + t):
            lags = np.asarray(self._lag, dtype=np.float64)[None, :]
            req = np.asarray(self._req, dtype=np.float64)[None, :]
            if bool(_departs(lags, req, t, self.behind)[0]):
                self.step, self.index = self._step[1], k
        return self.step

    @property
    def figure(self) -> Figure:
        note = "" if self.step is not None else f" (not found in the first {self._n} steps)"
        return Figure(self.step, self.index, self.method + note)


# -- CPU knee ----------------------------------------------------------------------------------

CPU_KNEE_MIN_LEVEL = 10
CPU_KNEE_TRACKING = 10
CPU_KNEE_LOOKAHEAD = 30
CPU_KNEE_DEPART = 0.10
CPU_KNEE_DROP = 0.25


def work_per_pod(work: ArrayLike, running: ArrayLike) -> Array:
    """Useful work per running pod (total work rate / running pods); NaN where no pod runs or
    the work is unknown. A running pod that reported nothing counts as a pod that did no work:
    the figure is what each pod that holds a place on the cluster delivers."""
    w, r = _f(work), _f(running)
    ok = np.isfinite(w) & np.isfinite(r) & (r > 0)
    out: Array = np.full(w.shape, np.nan)
    out[ok] = w[ok] / r[ok]
    return out


def expanding_median(values: ArrayLike) -> Array:
    """``out[j]`` = median of ``values[:j]`` (NaN for j = 0), in O(n log n) with two heaps."""
    v = _f(values)
    out: Array = np.full(v.size + 1, np.nan)
    low: list[float] = []  # max-heap (negated): the lower half
    high: list[float] = []  # min-heap: the upper half
    for j, x in enumerate(v.tolist()):
        if low and x > -low[0]:
            heapq.heappush(high, x)
        else:
            heapq.heappush(low, -x)
        if len(low) > len(high) + 1:
            heapq.heappush(high, -heapq.heappop(low))
        elif len(high) > len(low):
            heapq.heappush(low, -heapq.heappop(high))
        out[j + 1] = -low[0] if len(low) > len(high) else (high[0] - low[0]) / 2.0
    return out


def cpu_knee_method(lookahead: int = CPU_KNEE_LOOKAHEAD, tracking: int = CPU_KNEE_TRACKING,
                    depart: float = CPU_KNEE_DEPART, drop: float = CPU_KNEE_DROP,
                    min_level: int = CPU_KNEE_MIN_LEVEL) -> str:
    return (
        "where the useful work per running pod (total work rate / running pods) began to fall "
        "for good: find the first step from which it stays under "
        f"{1 - depart:.0%} of its level so far (the median over every earlier step with pods "
        f"running, at least {min_level} of them) for the next {tracking} such steps and whose "
        f"median over the next {lookahead} is under {1 - drop:.0%} of that level; the knee is "
        f"the step after the last one before it still at {1 - depart / 2:.0%} of the level or more"
    )


def cpu_knee(step: ArrayLike, running: ArrayLike, work: ArrayLike, *,
             lookahead: int = CPU_KNEE_LOOKAHEAD, tracking: int = CPU_KNEE_TRACKING,
             depart: float = CPU_KNEE_DEPART, drop: float = CPU_KNEE_DROP,
             min_level: int = CPU_KNEE_MIN_LEVEL) -> Figure:
    """Where the useful work per running pod starts to fall (see ``cpu_knee_method``).

    Only steps with pods running and a known work rate count ("such steps"). The fall is found
    by the steps before it and the ``lookahead`` steps from it, the knee by walking back from
    there: a longer run never moves it. Both tests of the fall are needed: staying under 90%
    alone is met by a noisy flat series now and then; a 25% lower median alone finds the middle
    of a fall. The walk back to the last step at 95% of the level finds where the fall began
    without taking a flat step's noise for it (the median level sits in that noise). For work
    per pod = c while running <= C and c C / running after (the CPUs full), the knee is the
    first step with running > C / 0.95.
    """
    if not 1 <= tracking <= lookahead:
        raise ValueError("cpu knee: need 1 <= tracking window <= look-ahead")
    if not 0 < depart <= drop < 1:
        raise ValueError("cpu knee: need 0 < departure <= drop < 1")
    if min_level < 1:
        raise ValueError("cpu knee: the level needs at least one step")
    method = cpu_knee_method(lookahead, tracking, depart, drop, min_level)
    s = _f(step)
    per_pod = work_per_pod(work, running)
    rows = np.flatnonzero(np.isfinite(per_pod))
    p = per_pod[rows]
    n = p.size
    if n < min_level + lookahead:
        return Figure(None, None, method + f" (only {n} steps with pods running and work known)")
    level = expanding_median(p)[:-1]  # level[j]: median of p[:j]
    view = np.lib.stride_tricks.sliding_window_view
    cand = np.arange(min_level, n - lookahead + 1)
    top = np.max(view(p, tracking), axis=1)[cand]
    mid = np.median(view(p, lookahead), axis=1)[cand]
    lv = level[cand]
    ok = (lv > 0) & (top < (1 - depart) * lv) & (mid < (1 - drop) * lv)
    if not ok.any():
        return Figure(None, None, method + f" (not found in the first {s.size} steps)")
    j = int(cand[int(np.argmax(ok))])
    start = (1 - depart / 2) * float(level[j])
    while j > min_level and p[j - 1] < start:
        j -= 1
    i = int(rows[j])
    return Figure(float(s[i]), i, method)


# -- free memory under a threshold -------------------------------------------------------------


def _check_threshold(threshold_mib: float) -> None:
    if not (math.isfinite(threshold_mib) and threshold_mib > 0):
        raise ValueError(f"free-memory threshold must be a positive number of MiB, "
                         f"not {threshold_mib!r}")


def free_counts(free_mib: ArrayLike, sampled: ArrayLike | None,
                nodes: ArrayLike) -> npt.NDArray[np.bool_]:
    """Which total-free values can be trusted: known, and (when the number of nodes in each
    total is recorded) summed over at least ``nodes`` nodes, because a total missing a node
    understates free memory. Elementwise."""
    ok: npt.NDArray[np.bool_] = np.isfinite(_f(free_mib))
    if sampled is not None:
        s = _f(sampled)
        ok &= np.isfinite(s) & (s >= _f(nodes))
    return ok


def free_method(threshold_mib: float) -> str:
    return (
        f"first step where total free memory < {threshold_mib:g} MiB, counting only totals "
        "over every node (the node count when known, else the most nodes sampled so far)"
    )


def free_below(step: ArrayLike, free_mib: ArrayLike,
               threshold_mib: float = DEFAULT_FREE_THRESHOLD_MIB, *,
               sampled: ArrayLike | None = None, nodes: int | None = None) -> Figure:
    """First step where total free memory is strictly under ``threshold_mib``.

    Missing totals (NaN) are skipped. With ``sampled`` (how many nodes each total sums), a total
    over fewer than ``nodes`` nodes is skipped too; without ``nodes``, one over fewer than the
    most sampled so far (which uses no later data). The original scripts wrote a missing worker
    as 0 and summed it into their total: pass the count of workers actually read as ``sampled``
    and the number of worker columns as ``nodes``.
    """
    _check_threshold(threshold_mib)
    step, free = _f(step), _f(free_mib)
    expected: Array = np.zeros(free.shape)
    if sampled is not None:
        s = _f(sampled)
        expected = (np.fmax.accumulate(s) if nodes is None else np.full(s.shape, float(nodes)))
    method = free_method(threshold_mib)
    hit = free_counts(free, sampled, expected) & (free < threshold_mib)
    if not hit.any():
        return Figure(None, None, method + " (never)")
    i = int(np.argmax(hit))
    return Figure(float(step[i]), i, method)


class FreeBelowTracker:
    """``free_below`` one step at a time, for the engine."""

    def __init__(self, threshold_mib: float = DEFAULT_FREE_THRESHOLD_MIB, *,
                 nodes: int | None = None):
        _check_threshold(threshold_mib)
        self.threshold_mib, self.nodes = threshold_mib, nodes
        self.method = free_method(threshold_mib)
        self._most = math.nan
        self._n = 0
        self.step: float | None = None
        self.index: int | None = None

    def update(self, step: float, free_mib: float | None,
               sampled: float | None = None) -> float | None:
        """Add one step (``free_mib`` None or NaN: no total); returns the figure once reached."""
        i, self._n = self._n, self._n + 1
        if sampled is not None:
            self._most = float(np.fmax(self._most, sampled))
        if self.step is None and free_mib is not None:
            expected = self._most if self.nodes is None else float(self.nodes)
            if bool(free_counts(free_mib, sampled, expected)) and free_mib < self.threshold_mib:
                self.step, self.index = step, i
        return self.step

    @property
    def figure(self) -> Figure:
        return Figure(self.step, self.index,
                      self.method + ("" if self.step is not None else " (never)"))


# -- the stop rule -----------------------------------------------------------------------------


@dataclass(frozen=True)
class StopRule:
    """Stop once running has made no gain (see ``tolerance``) over the last ``fraction`` of the
    run, counted in steps and in seconds, and over at least ``min_steps`` steps and
    ``min_seconds`` seconds, while requested grew by more than the tolerance; never before the
    first pod ran.

    Why the window grows with the run: real clusters stall for a long time and then gain again
    (a published kata run sat at 80 running pods for 340 steps, then reached 102), and a slow
    cluster keeps gaining a few pods at a time for hundreds of steps past its knee. Why 2/3: it
    is the smallest round fraction that never stops a published memory run before it reached 95%
    of its maximum (the run above needs more than 0.63). Why seconds too: in no-wait mode steps
    take a fraction of a second while pods take seconds to start.
    """

    min_steps: int = 30
    min_seconds: float = 60.0
    fraction: float = 2.0 / 3.0

    def __post_init__(self) -> None:
        if self.min_steps < 1:
            raise ValueError("the stop window needs at least 1 step")
        if not (math.isfinite(self.min_seconds) and self.min_seconds >= 0):
            raise ValueError("the stop window's least time must be >= 0 seconds")
        if not 0 <= self.fraction < 1:
            raise ValueError("the stop window's fraction of the run must be in [0, 1)")

    @property
    def method(self) -> str:
        return (
            f"first step at which running had made no gain ({TOLERANCE_TEXT}) over the last "
            f"{self.fraction:.0%} of the run so far, in steps and in seconds, and over at least "
            f"{self.min_steps} steps and {self.min_seconds:g} s, while requested grew by more "
            "than that; never before a pod ran"
        )


class StopDetector:
    """The stop rule, one step at a time (``update`` returns True: stop, and stays True);
    ``stop_step`` replays a file through it. ``t``: seconds since the run began (``elapsed_s``).
    """

    def __init__(self, rule: StopRule | None = None):
        self.rule = rule or StopRule()
        self.anchor: float | None = None  # running at the last gain
        self.gain_step: float | None = None
        self.gain_t = 0.0
        self.gain_requested = 0.0
        self.first_step: float | None = None
        self.stop_step: float | None = None
        self.index: int | None = None
        self._n = 0

    def update(self, step: float, t: float, requested: float, running: float) -> bool:
        i, self._n = self._n, self._n + 1
        if self.stop_step is not None:
            return True
        if self.first_step is None:
            self.first_step = step
        if is_gain(running, self.anchor):
            self.anchor, self.gain_step = running, step
            self.gain_t, self.gain_requested = t, requested
            return False
        if self.anchor is None or self.gain_step is None:
            return False  # nothing has run yet: a slow start is not a stop
        rule = self.rule
        steps_so_far = step - self.first_step + 1
        quiet_steps = step - self.gain_step
        quiet_s = t - self.gain_t
        if (quiet_steps >= max(rule.min_steps, rule.fraction * steps_so_far)
                and quiet_s >= max(rule.min_seconds, rule.fraction * t)
                and requested - self.gain_requested > tolerance(self.anchor)):
            self.stop_step, self.index = step, i
            return True
        return False

    @property
    def figure(self) -> Figure:
        note = "" if self.stop_step is not None else f" (not met in {self._n} steps)"
        return Figure(self.stop_step, self.index, self.rule.method + note)


def stop_step(step: ArrayLike, elapsed_s: ArrayLike, requested: ArrayLike, running: ArrayLike,
              rule: StopRule | None = None) -> Figure:
    """The step at which the stop rule is first met, replaying the series through
    ``StopDetector`` (the engine's own code path)."""
    det = StopDetector(rule)
    s, t, req, run = (_f(x) for x in (step, elapsed_s, requested, running))
    for i in range(s.size):
        if det.update(float(s[i]), float(t[i]), float(req[i]), float(run[i])):
            break
    return det.figure


# -- all of them -------------------------------------------------------------------------------


class RunFigures:
    """What the engine feeds once per recorded step; ``update`` returns True when the stop rule
    is met. ``figures()`` equals ``figures_of`` on the finished file."""

    def __init__(self, rule: StopRule | None = None, *,
                 free_threshold_mib: float = DEFAULT_FREE_THRESHOLD_MIB,
                 nodes: int | None = None):
        self.knee = KneeTracker()
        self.free = FreeBelowTracker(free_threshold_mib, nodes=nodes)
        self.stop = StopDetector(rule)

    def update(self, step: float, t: float, requested: float, running: float,
               free_mib: float | None = None, sampled: float | None = None) -> bool:
        self.knee.update(step, requested, running)
        self.free.update(step, free_mib, sampled)
        return self.stop.update(step, t, requested, running)

    def figures(self) -> dict[str, Figure]:
        return {"knee": self.knee.figure, "free_below": self.free.figure,
                "stop": self.stop.figure}


def figures_of(step: ArrayLike, elapsed_s: ArrayLike, requested: ArrayLike,
               running: ArrayLike, free_mib: ArrayLike | None = None, *,
               sampled: ArrayLike | None = None, nodes: int | None = None,
               free_threshold_mib: float = DEFAULT_FREE_THRESHOLD_MIB,
               rule: StopRule | None = None) -> dict[str, Figure]:
    """What viz calls once per file: the knee, the free-memory crossing and the step at which
    the stop rule is (or would have been) met, with the same keys as ``RunFigures.figures``."""
    free = np.full(_f(step).shape, np.nan) if free_mib is None else free_mib
    return {
        "knee": knee(step, requested, running),
        "free_below": free_below(step, free, free_threshold_mib, sampled=sampled, nodes=nodes),
        "stop": stop_step(step, elapsed_s, requested, running, rule),
    }
