"""Node memory: workloads growing (their loops: ``scaler.sim.loops``), memory handed out by
water-filling, VM guests in /dev/shm, page cache, thrashing and the kernel OOM killer.

Each step, what wants memory on a node (workloads touching what they allocated, VMs' processes and
guests, new sandboxes) shares what the node can give: memory above the free watermark plus page
cache reclaimed at the reclaim rate, within the kubepods cgroup. When a node cannot serve
everyone, everyone gets memory at the same rate and the rest stalls in reclaim; with no page cache
left to drop the node is thrashing, and after ``oom_delay_s`` of that the kernel OOM killer acts.
"""

from __future__ import annotations

import math

import numpy as np

from scaler.sim import policy
from scaler.sim.kubelet import end_container, start_container, start_need
from scaler.sim.loops import idle_loop, idle_round, run_loops, step_demand, wants_more
from scaler.sim.pods import CS_RUNNING, T_ERROR, T_OOM
from scaler.sim.state import SimState, bincount, pod_usage


def grow(s: SimState) -> None:
    """Hand node memory to what wants it: workloads touching what they allocated, VMs'
    processes and guests, and new sandboxes. When a node has not enough for all, everyone
    gets memory at the same rate (the rest stalls in reclaim); with no page cache left to
    drop, the node is thrashing."""
    c = s.profile.cluster
    p = s.table
    n = p.n
    w = s.workers
    run = np.flatnonzero(p.cstate[:n] == CS_RUNNING)
    run = run[p.alive[run] & np.isnan(p.deleted[run]) & ~p.paused[run]]
    if len(run):
        # Loops that finished touching what they hold take their next growth step; a workload
        # at its target has nothing more to do in its loops.
        due = run[(p.loop_next[run] <= s.t) & (p.rss[run] >= p.held[run] - 1e-6)
                  & wants_more(s, run)]
        if len(due):
            run_loops(s, due, np.maximum(1.0, s.cpu_demand / s.cpus))
        growing = ((p.held[run] - p.rss[run] > 1e-9)
                   | (p.host_held[run] < p.host_mib[run] - 1e-9)) & (p.cstate[run] == CS_RUNNING)
        run = run[growing]
    vm = p.vm[run]
    cont, vms = run[~vm], run[vm]
    c_want = p.held[cont] - p.rss[cont]  # workload MiB still to touch
    c_nodes = p.node[cont]
    vms, v_nodes, v_want = vm_wants(s, vms)
    starters = np.flatnonzero(p.starting[:n])
    starters = starters[p.alive[starters] & np.isnan(p.deleted[starters])]
    s_nodes = p.node[starters]
    s_want = np.maximum(0.0, start_need(s, starters) - p.rss[starters])
    above_floor = np.maximum(0.0, s.free - c.free_floor_mib)
    reclaimable = np.maximum(0.0, s.cache - c.page_cache_min_mib)
    headroom = np.minimum(
        above_floor + np.minimum(reclaimable, c.reclaim_mib_s * s.dt),
        s.cgroup_cap - s.infra_used - s.pod_mem,
    )
    nodes = np.concatenate([c_nodes, v_nodes, s_nodes])
    wants = np.concatenate([c_want, v_want, s_want])
    need = bincount(nodes, wants, minlength=w)
    # Thrashing: asked for more than the node can give with no page cache left to drop.
    s.thrashing = (need > np.maximum(headroom, 0.0) + 1e-6) & (
        reclaimable <= c.reclaim_mib_s * s.dt)
    s.progress = served_share(s, headroom, need, cont, vms)
    grants = water_fill(nodes, wants, headroom, need)
    nc, nv = len(cont), len(vms)
    if nc:
        p.rss[cont] += grants[:nc]
        s.pod_mem += bincount(c_nodes, grants[:nc], minlength=w)
    if nv:
        vm_grants(s, vms, v_nodes, grants[nc:nc + nv])
    if len(starters):
        g_start = grants[nc + nv:]
        p.rss[starters] += g_start
        s.pod_mem += bincount(s_nodes, g_start, minlength=w)
        for i in starters[g_start >= s_want - 1e-6]:
            start_container(s, int(i))
    oom_killer(s)
    update_page_cache(s)


def served_share(s: SimState, headroom: np.ndarray, need: np.ndarray, cont: np.ndarray,
                 vms: np.ndarray) -> np.ndarray:
    """The share of the step each node served what was asked of it (``SimState.progress``: the
    pace of everything else on the node). A short node serves until its room is gone, and its
    growing workloads ask at the rate their loops run, not only for what they still had to
    touch: after an OOM kill, the C program's loops (tens of MiB a second each, at MEMORY=0
    without end) take the victim's memory back within a fraction of a second, and the node's
    services get that fraction (``loops.step_demand``)."""
    p = s.table
    timed = s.profile.workload.pacing == "timer"
    short = need > np.maximum(headroom, 0.0) + 1e-9 if timed else np.zeros(0, dtype=bool)
    if short.any():
        loops = np.concatenate([cont, vms])
        loops = loops[short[p.node[loops]]]
        if len(loops):
            extra = np.maximum(0.0, step_demand(s, loops) - (p.held[loops] - p.rss[loops]))
            extra *= np.where(p.vm[loops], 1.0 + p.per_mib[loops], 1.0)  # host MiB
            need = need + bincount(p.node[loops], extra, minlength=s.workers)
    return np.asarray(np.where(need > 0, np.clip(headroom / np.maximum(need, 1e-9), 0.0, 1.0),
                               1.0))


def vm_wants(s: SimState, vms: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What growing VMs ask of their node: new guest pages above the guest's high-water mark
    (with the host's overhead per guest page) and the rest of their processes' working size.
    VMs whose new guest pages do not fit in /dev/shm die first (``shm_limit``); the others
    come back with their nodes and host MiB wanted."""
    p = s.table
    if len(vms) == 0:
        return vms, p.node[vms], np.zeros(0)
    want_ws = p.held[vms] - p.rss[vms]
    guest_need = np.maximum(0.0, p.guest_base[vms] + p.rss[vms] + want_ws - p.guest_peak[vms])
    nodes = p.node[vms]
    shm_limit(s, vms, nodes, np.where(p.shared[vms], guest_need, 0.0))
    ok = (p.cstate[vms] == CS_RUNNING) & ~p.paused[vms]
    vms, nodes, guest_need = vms[ok], nodes[ok], guest_need[ok]
    ov_want = np.maximum(0.0, p.host_mib[vms] - p.host_held[vms])
    return vms, nodes, guest_need * (1 + p.per_mib[vms]) + ov_want


def vm_grants(s: SimState, vms: np.ndarray, nodes: np.ndarray, granted: np.ndarray) -> None:
    """Host memory granted to VMs: their processes take their share first, then the guest
    grows, its own base before the workload's pages; free guest pages (below the high-water
    mark) cost the host nothing."""
    p = s.table
    w = s.workers
    per = 1 + p.per_mib[vms]
    ov_got = np.minimum(np.maximum(0.0, p.host_mib[vms] - p.host_held[vms]), granted)
    p.host_held[vms] += ov_got
    g_guest = granted - ov_got
    want_ws = p.held[vms] - p.rss[vms]
    base_gap = np.maximum(0.0, p.guest_base[vms] - p.guest_peak[vms])
    free_guest = np.maximum(0.0, p.guest_peak[vms] - p.guest_base[vms] - p.rss[vms])
    p.rss[vms] += np.minimum(want_ws, np.maximum(0.0, free_guest + g_guest / per - base_gap))
    base_fill = np.minimum(base_gap, g_guest / per)
    filled = p.guest_peak[vms] + base_fill
    # the workload's pages count once the guest's own base is in (they come after it)
    new_peak = np.where(filled >= p.guest_base[vms] - 1e-9,
                        np.maximum(filled, p.guest_base[vms] + p.rss[vms]), filled)
    grown = new_peak - p.guest_peak[vms]
    p.guest_peak[vms] = new_peak
    s.shm_used += bincount(nodes, np.where(p.shared[vms], grown, 0.0), minlength=w)
    s.pod_mem += bincount(nodes, ov_got + grown * per, minlength=w)


def next_change(s: SimState) -> float:
    """Now while anything waits for memory or a node thrashes; else the next workload loop that
    would allocate (or hit its limit); never when every workload holds its target or can no
    longer grow (its VM full, its increment at the floor)."""
    p = s.table
    n = p.n
    if s.thrashing.any():
        return s.t
    live = p.alive[:n] & np.isnan(p.deleted[:n])
    if (live & p.starting[:n]).any():
        return s.t
    run = np.flatnonzero(live & (p.cstate[:n] == CS_RUNNING) & ~p.paused[:n])
    held, rss = p.held[run], p.rss[run]
    if ((held - rss > 1e-9) | (p.host_held[run] < p.host_mib[run] - 1e-9)).any():
        return s.t
    loops = run[wants_more(s, run)]
    if len(loops) == 0:
        return math.inf
    change = ~idle_loop(s, loops)
    return float(p.loop_next[loops[change]].min()) if change.any() else math.inf


def skip(s: SimState, ticks: int) -> None:
    """Quiet steps up to now: idle loops go round (``loops.idle_round``), page cache refills."""
    p = s.table
    n = p.n
    run = np.flatnonzero(p.alive[:n] & np.isnan(p.deleted[:n]) & (p.cstate[:n] == CS_RUNNING)
                         & ~p.paused[:n])
    due = run[(p.loop_next[run] <= s.t) & wants_more(s, run)]
    if len(due):
        idle_round(s, due, np.maximum(1.0, s.cpu_demand / s.cpus))
    update_page_cache(s, ticks)


def shm_limit(s: SimState, run: np.ndarray, nodes: np.ndarray, guest_need: np.ndarray) -> None:
    """VMs whose new guest pages do not fit in /dev/shm fault (tmpfs full: SIGBUS, kata
    runtime#2766): by their runtime's ``shm_full``, QEMU stops them where they are (paused:
    they keep their memory and their pods stay Running) or they die, freeing their memory for
    the others."""
    p = s.table
    need = bincount(nodes, guest_need, minlength=s.workers)
    room = s.shm_cap - s.shm_used
    for node in np.flatnonzero(need > room + 1e-6):
        members = np.flatnonzero((nodes == node) & (guest_need > 0))
        members = members[s.rng.permutation(len(members))]
        left = float(room[node])
        for k in members:
            i = int(run[k])
            if guest_need[k] <= left:
                left -= guest_need[k]
                continue
            if s.dep_list[int(p.dep[i])].runtime.shm_full == "pause":
                p.paused[i] = True
                continue
            left += p.guest_peak[i]
            end_container(s, i, T_ERROR, 135, vm_dies=True)
            p.message[i] = None


def oom_killer(s: SimState) -> None:
    """A node that thrashes for ``oom_delay_s`` gets one kernel OOM kill: the process with
    the largest badness among pods (BestEffort first)."""
    c = s.profile.cluster
    p = s.table
    n = p.n
    t = s.t
    started = s.thrashing & np.isnan(s.thrash_since)
    s.thrash_since[started] = t
    s.thrash_since[~s.thrashing] = np.nan
    due = np.flatnonzero(s.thrashing & (t - s.thrash_since >= c.oom_delay_s))
    if len(due) == 0:
        return
    on = np.zeros(s.workers, dtype=bool)
    on[due] = True
    every = np.flatnonzero(p.alive[:n] & p.sandbox_up[:n] & np.isnan(p.deleted[:n])
                           & (p.cstate[:n] == CS_RUNNING) & on[p.node[:n]])
    every_nodes = p.node[every]
    for node in due:
        cand = every[every_nodes == node]
        s.thrash_since[node] = t
        if len(cand) == 0:
            continue
        usage = pod_usage(s, cand)
        k = int(cand[policy.oom_victim(usage, p.adj[cand], float(s.mem_total[node]))])
        p.sys_ooms[k] += 1
        if p.vm[k]:
            end_container(s, k, T_ERROR, 137, vm_dies=True)  # QEMU killed: the VM is gone
        else:
            s.dep_list[int(p.dep[k])].oom_killed += 1
            end_container(s, k, T_OOM, 137, vm_dies=False)


def update_page_cache(s: SimState, ticks: int = 1) -> None:
    """Page cache gives way to anonymous memory, keeping MemFree at the kernel's watermark,
    and refills slowly when memory is freed (over ``ticks`` steps)."""
    c = s.profile.cluster
    used = s.sys_used + s.infra_used + s.pod_mem
    room = s.mem_total - used - c.free_floor_mib  # cache that leaves MemFree at the floor
    refill = c.page_cache_refill_mib_s * s.dt * ticks
    refilled = np.minimum(np.minimum(s.cache + refill, s.cache_max), room)
    s.cache = np.where(s.cache > room, room, np.maximum(s.cache, refilled))
    s.cache = np.maximum(s.cache, c.page_cache_min_mib)
    s.free = np.maximum(0.0, s.mem_total - used - s.cache)


def available(s: SimState) -> np.ndarray:
    """memory.available as the eviction manager sees it, taken as the kernel's MemAvailable:
    free memory above the watermark plus page cache that can be dropped without thrashing."""
    c = s.profile.cluster
    return np.asarray(s.mem_total - s.sys_used - s.infra_used - s.pod_mem
            - c.page_cache_min_mib - c.free_floor_mib)


def water_fill(nodes: np.ndarray, wants: np.ndarray, headroom: np.ndarray,
               need: np.ndarray, rounds: int = 6) -> np.ndarray:
    """Share each node's headroom among what asks for memory there, every requester at the same
    rate (page faults are served one by one, whoever takes them): small requests are met in full,
    large ones get the same amount as each other (the level L with sum(min(want, L)) equal to
    the room). Nodes with enough give everyone all.

    All short nodes at once: start from an equal share of the room; whoever asks for no more is
    served in full, which leaves more for the rest; repeat until nobody left asks for less than
    the share. Requests of similar sizes settle in a round or two; after ``rounds``, what is left
    is settled exactly by sorting (``_water_fill_sorted``)."""
    grants = wants.copy()
    w = len(need)
    short = need > np.maximum(headroom, 0.0) + 1e-9
    if len(nodes) == 0 or not short.any():
        return grants
    sel = np.flatnonzero(short[nodes])
    node, want = nodes[sel], wants[sel]
    room = np.maximum(headroom, 0.0)
    k = bincount(node, minlength=w)
    served, done = np.zeros(w), np.zeros(w)
    level = room / np.maximum(k, 1.0)
    left = np.ones(len(sel), dtype=bool)
    for _ in range(rounds):
        full = left & (want <= level[node])
        if not full.any():
            break
        served += bincount(node[full], want[full], minlength=w)
        done += bincount(node[full], minlength=w)
        left &= ~full
        level = (room - served) / np.maximum(k - done, 1.0)
    else:
        rest = np.flatnonzero(left)
        if len(rest):
            part = _water_fill_sorted(node[rest], want[rest], room - served,
                                      bincount(node[rest], want[rest], minlength=w))
            grants[sel] = np.where(left, 0.0, want)
            grants[sel[rest]] = part
            return grants
    grants[sel] = np.minimum(want, np.maximum(level, 0.0)[node])
    return grants


def _water_fill_sorted(nodes: np.ndarray, wants: np.ndarray, headroom: np.ndarray,
                       need: np.ndarray) -> np.ndarray:
    """``water_fill`` by sorting each short node's requests ascending (w_0 <= w_1 <= ...): its
    level is the first (room - sum(w_<j)) / (k - j) that is <= w_j (the j smallest are served in
    full and the rest share what is left equally), or its largest request when all fit."""
    grants = wants.copy()
    short = need > np.maximum(headroom, 0.0) + 1e-9
    sel = np.flatnonzero(short[nodes]) if len(nodes) else np.zeros(0, dtype=np.int64)
    if len(sel) == 0:
        return grants
    order = np.lexsort((wants[sel], nodes[sel]))
    members = sel[order]
    node = nodes[members]
    w = wants[members]
    starts = np.flatnonzero(np.concatenate([[True], node[1:] != node[:-1]]))
    sizes = np.diff(np.concatenate([starts, [len(node)]]))
    group = np.repeat(np.arange(len(starts)), sizes)
    pos = np.arange(len(node)) - starts[group]
    before = np.cumsum(w) - w  # sum of all earlier requests, whatever their node
    below = before - before[starts][group]  # sum of the smaller requests of the same node
    rest = (np.maximum(0.0, headroom[node]) - below) / (sizes[group] - pos)
    level = w[starts + sizes - 1].copy()  # room for all: everyone gets what they asked
    hit = np.flatnonzero(rest <= w)
    if len(hit):
        g = group[hit]
        first = np.concatenate([[True], g[1:] != g[:-1]])
        level[g[first]] = rest[hit[first]]
    grants[members] = np.minimum(w, np.maximum(level, 0.0)[group])
    return grants
