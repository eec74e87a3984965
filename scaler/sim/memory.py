"""Node memory: workloads growing (``workload.growth``), memory handed out by water-filling,
VM guests in /dev/shm, page cache, thrashing and the kernel OOM killer.

Each step, what wants memory on a node (workloads touching what they allocated, VMs' processes and
guests, new sandboxes) shares what the node can give: memory above the free watermark plus page
cache reclaimed at the reclaim rate, within the kubepods cgroup. When a node cannot serve
everyone, everyone gets memory at the same rate and the rest stalls in reclaim; with no page cache
left to drop the node is thrashing, and after ``oom_delay_s`` of that the kernel OOM killer acts.
"""

from __future__ import annotations

import numpy as np

from scaler.sim import policy
from scaler.sim.kubelet import end_container, start_container, start_need
from scaler.sim.pods import CS_RUNNING, T_ERROR, T_OOM
from scaler.sim.state import SimState, bincount, pod_usage
from workload import growth


def grow(s: SimState) -> None:
    """Hand node memory to what wants it: workloads touching what they allocated, VMs'
    processes and guests, and new sandboxes. When a node has not enough for all, everyone
    gets memory at the same rate (the rest stalls in reclaim); with no page cache left to
    drop, the node is thrashing."""
    c = s.profile.cluster
    p = s.table
    n = p.n
    t = s.t
    w = s.workers
    live = p.alive[:n] & np.isnan(p.deleted[:n])
    run = np.flatnonzero(live & (p.cstate[:n] == CS_RUNNING))
    contention = np.maximum(1.0, s.cpu_demand / s.cpus)
    if len(run):
        # Loops that finished touching what they hold take their next growth step.
        due = run[(p.loop_next[run] <= t) & (p.rss[run] >= p.held[run] - 1e-6)]
        if len(due):
            workload_loop(s, due, contention)
        want_ws = p.held[run] - p.rss[run]  # workload MiB still to touch
        growing = (((want_ws > 1e-9) | (p.host_held[run] < p.host_mib[run] - 1e-9))
                   & (p.cstate[run] == CS_RUNNING))
        run, want_ws = run[growing], want_ws[growing]
    else:
        want_ws = np.zeros(0)
    vm = p.vm[run]
    nodes = p.node[run]
    # Host MiB needed: a VM only needs new host pages above its guest's high-water mark.
    guest_need = np.where(vm, np.maximum(0.0, p.guest_base[run] + p.rss[run] + want_ws
                                         - p.guest_peak[run]), 0.0)
    # A booted VM's processes still grow to their working size (QEMU, virtiofsd, shim).
    ov_want = np.where(vm, np.maximum(0.0, p.host_mib[run] - p.host_held[run]), 0.0)
    host_want = np.where(vm, guest_need * (1 + p.per_mib[run]) + ov_want, want_ws)
    if vm.any():
        shm_limit(s, run, nodes, guest_need)
        ok = p.cstate[run] == CS_RUNNING
        run, nodes, vm = run[ok], nodes[ok], vm[ok]
        want_ws, guest_need, host_want = want_ws[ok], guest_need[ok], host_want[ok]
        ov_want = ov_want[ok]
    starters = np.flatnonzero(live & p.starting[:n])
    s_nodes = p.node[starters]
    s_want = np.maximum(0.0, start_need(s, starters) - p.rss[starters])
    above_floor = np.maximum(0.0, s.free - c.free_floor_mib)
    reclaimable = np.maximum(0.0, s.cache - c.page_cache_min_mib)
    headroom = np.minimum(
        above_floor + np.minimum(reclaimable, c.reclaim_mib_s * s.dt),
        s.cgroup_cap - s.infra_used - s.pod_mem,
    )
    need = bincount(nodes, host_want, minlength=w) + bincount(s_nodes, s_want, minlength=w)
    frac = np.where(need > 0, np.clip(headroom / np.maximum(need, 1e-9), 0.0, 1.0), 1.0)
    # Thrashing: asked for more than the node can give with no page cache left to drop.
    s.thrashing = (need > np.maximum(headroom, 0.0) + 1e-6) & (
        reclaimable <= c.reclaim_mib_s * s.dt)
    s.progress = frac
    grants = water_fill(np.concatenate([nodes, s_nodes]),
                        np.concatenate([host_want, s_want]), headroom, need)
    g_run, g_start = grants[: len(run)], grants[len(run):]
    if len(run):
        # A VM's own processes take their share first, then its guest grows.
        ov_got = np.minimum(ov_want, g_run)
        p.host_held[run] += ov_got
        g_guest = g_run - ov_got
        # Free guest pages (below the high-water mark) cost the host nothing.
        free_guest = np.where(vm, np.maximum(0.0, p.guest_peak[run] - p.guest_base[run]
                                             - p.rss[run]), want_ws)
        got_ws = np.where(vm, np.minimum(want_ws, np.maximum(
            0.0, free_guest + g_guest / (1 + p.per_mib[run]) - np.maximum(
                0.0, p.guest_base[run] - p.guest_peak[run]))), g_run)
        p.rss[run] += got_ws
        host_got = np.where(vm, ov_got, got_ws)
        if vm.any():
            # the guest's own base comes first, then the workload's pages
            base_fill = np.where(vm, np.minimum(np.maximum(0.0, p.guest_base[run]
                                                           - p.guest_peak[run]),
                                                g_guest / (1 + p.per_mib[run])), 0.0)
            new_peak = np.maximum(p.guest_peak[run] + base_fill,
                                  np.where(vm, p.guest_base[run] + p.rss[run], 0.0))
            grown = np.where(vm, new_peak - p.guest_peak[run], 0.0)
            p.guest_peak[run] = np.where(vm, new_peak, p.guest_peak[run])
            s.shm_used += bincount(nodes, grown, minlength=w)
            host_got = host_got + grown * (1 + p.per_mib[run])
        s.pod_mem += bincount(nodes, host_got, minlength=w)
    if len(starters):
        p.rss[starters] += g_start
        s.pod_mem += bincount(s_nodes, g_start, minlength=w)
        for i in starters[g_start >= s_want - 1e-6]:
            start_container(s, int(i))
    oom_killer(s)
    update_page_cache(s)


def workload_loop(s: SimState, due: np.ndarray, contention: np.ndarray) -> None:
    """One workload loop for each pod in ``due``: the next growth step of workload.growth,
    refused above a container limit (OOMKilled) or beyond the VM's memory (the allocation
    fails in the guest and the increment halves)."""
    p = s.table
    t = s.t
    step = growth.step_size(p.held[due], p.target[due], p.inc[due])
    new = p.held[due] + step
    limited = (p.limit[due] > 0) & (new > p.limit[due])
    guest_room = p.vm_size[due] - p.guest_base[due]
    refused = ~limited & (new > guest_room) & (step > 0)
    ok = ~limited & ~refused
    p.held[due[ok]] = new[ok]
    p.inc[due[refused]] = growth.increment_after_failure(p.inc[due[refused]])
    f = p.cpu_frac[due]
    c = contention[p.node[due]]
    p.loop_next[due] = t + growth.LOOP_S * (1.0 - f + f * c)
    for i in due[limited]:
        # The cgroup limit stops it: the container is OOM-killed (exit 137).
        s.dep_list[int(p.dep[i])].oom_killed += 1
        end_container(s, int(i), T_OOM, 137, vm_dies=False)


def shm_limit(s: SimState, run: np.ndarray, nodes: np.ndarray, guest_need: np.ndarray) -> None:
    """VMs whose new guest pages do not fit in /dev/shm die (QEMU gets SIGBUS), freeing
    their memory for the others (kata runtime#2766)."""
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
    cand_mask = p.alive[:n] & p.sandbox_up[:n] & np.isnan(p.deleted[:n]) & (
        p.cstate[:n] == CS_RUNNING)
    for node in due:
        cand = np.flatnonzero(cand_mask & (p.node[:n] == node))
        s.thrash_since[node] = t
        if len(cand) == 0:
            continue
        usage = pod_usage(s, cand)
        k = int(cand[policy.oom_victim(usage, p.adj[cand], float(s.mem_total[node]))])
        if p.vm[k]:
            end_container(s, k, T_ERROR, 137, vm_dies=True)  # QEMU killed: the VM is gone
        else:
            s.dep_list[int(p.dep[k])].oom_killed += 1
            end_container(s, k, T_OOM, 137, vm_dies=False)


def update_page_cache(s: SimState) -> None:
    """Page cache gives way to anonymous memory, keeping MemFree at the kernel's watermark,
    and refills slowly when memory is freed."""
    c = s.profile.cluster
    used = s.sys_used + s.infra_used + s.pod_mem
    room = s.mem_total - used - c.free_floor_mib  # cache that leaves MemFree at the floor
    refilled = np.minimum(np.minimum(s.cache + c.page_cache_refill_mib_s * s.dt, s.cache_max),
                          room)
    s.cache = np.where(s.cache > room, room, np.maximum(s.cache, refilled))
    s.cache = np.maximum(s.cache, c.page_cache_min_mib)
    s.free = np.maximum(0.0, s.mem_total - used - s.cache)


def available(s: SimState) -> np.ndarray:
    """memory.available as the eviction manager sees it, taken as the kernel's MemAvailable:
    free memory above the watermark plus page cache that can be dropped without thrashing."""
    c = s.profile.cluster
    return (s.mem_total - s.sys_used - s.infra_used - s.pod_mem
            - c.page_cache_min_mib - c.free_floor_mib)


def water_fill(nodes: np.ndarray, wants: np.ndarray, headroom: np.ndarray,
               need: np.ndarray) -> np.ndarray:
    """Share each node's headroom among what asks for memory there, every requester at the same
    rate (page faults are served one by one, whoever takes them): small requests are met in full,
    large ones get the same amount as each other. Nodes with enough give everyone all."""
    grants = wants.copy()
    short = np.flatnonzero(need > np.maximum(headroom, 0.0) + 1e-9)
    for node in short:
        mine = np.flatnonzero(nodes == node)
        room = max(0.0, float(headroom[node]))
        w = np.sort(wants[mine])
        # level L with sum(min(w, L)) == room
        below = np.concatenate([[0.0], np.cumsum(w)])
        k = len(w)
        level = 0.0
        for j in range(k):
            # with the j smallest fully served, the rest share what is left equally
            rest = (room - below[j]) / (k - j)
            if rest <= w[j]:
                level = rest
                break
        else:
            level = w[-1]
        grants[mine] = np.minimum(wants[mine], max(level, 0.0))
    return grants
