"""The simulator's parameters: cluster, runtimes and control plane, with where each number comes from.

Every default below cites its source. "reference runs" means the 2021 runc/kata capacity runs kept
in ``../shared/reference/c3d-kata-2021`` (OpenShift, 5 workers x 8 vCPU x 16 GiB). A profile file
(JSON, or YAML) overrides any of them; its keys mirror these dataclasses, for example::

    {"cluster": {"workers": 3},
     "runtimes": {"kata-qemu": {"like": "kata", "overhead_mib": 160}}}
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from workload import growth

#: What a workload calls the cluster's default runtime (no RuntimeClass).
DEFAULT_RUNTIME_NAME = "default"


class ProfileError(ValueError):
    """A profile file cannot be used; the message fits on one line."""


class UnknownRuntime(KeyError):
    """A workload names a runtime the profile has no parameters for; the message fits on one
    line and says how to declare one."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


@dataclass
class ClusterProfile:
    # Shape of the original measurements (reference runs README: 5 workers, 8 vCPU, 16 GiB).
    workers: int = 5
    worker_cpus: int = 8
    worker_memory_mib: int = 16384
    # Memory the firmware, kernel image and crashkernel keep before MemTotal: a 16 GiB RHCOS VM
    # reports about 15.6-15.7 GiB MemTotal (assumption; the reference CSVs do not record it).
    kernel_reserved_mib: float = 340.0
    # maxPods 250 on OpenShift (machine-config-operator kubelet.yaml; upstream default 110).
    max_pods: int = 250
    # systemReserved 500m CPU / 1Gi memory (machine-config-operator static default).
    system_reserved_cpu_m: int = 500
    system_reserved_memory_mib: float = 1024.0
    # Hard eviction memory.available < 100Mi (kubernetes.io node-pressure-eviction; OpenShift
    # keeps the upstream default).
    eviction_threshold_mib: float = 100.0
    # The eviction manager's monitoring interval: 10 s, at most one pod per pass (kubelet
    # eviction manager).
    eviction_interval_s: float = 10.0
    # After evicting, the manager waits for the pod's cleanup before the next pass, up to
    # podCleanupTimeout 30 s (kubelet eviction manager waitForPodsCleanup); a node short of
    # memory tears pods down slowly, so the wait is the timeout.
    eviction_cleanup_s: float = 30.0
    # MemoryPressure stays set this long after the signal clears (kubelet
    # --eviction-pressure-transition-period default 5m).
    pressure_transition_s: float = 300.0
    # The kubelet's API client rate limit (--kube-api-qps 5, --kube-api-burst 10 before
    # Kubernetes 1.27): every pod status it writes, a rejection included, goes through it.
    kubelet_api_qps: float = 5.0
    kubelet_api_burst: float = 10.0
    # Kubelet posts node status (and so conditions the scheduler sees as taints) every 10 s
    # (kubelet nodeStatusUpdateFrequency default).
    node_status_interval_s: float = 10.0
    # Non-reclaimable memory of the OS and node services outside pods (kernel slab, systemd,
    # kubelet, CRI-O, OVS), above the 1 GiB systemReserved as is common. Reference runs: idle
    # workers use 3.6-7.5 GiB including page cache and infrastructure pods; this is the part
    # common to all of them.
    system_used_mib: float = 1500.0
    # Infrastructure pods per worker (DNS, SDN, node exporter, ...; monitoring and ingress on
    # some workers), cycled over the workers: anonymous memory in MiB. With page_cache_mib below
    # it makes idle MemFree per worker match the first sample of the reference runs (8.5, 12.4,
    # 12.2, 9.6, 11.9 GiB; model 8.8, 12.4, 12.2, 9.7, 12.0).
    infra_used_mib: tuple[float, ...] = (2000.0, 300.0, 500.0, 1500.0, 700.0)
    # Their requests, cycled the same way. The scheduler sees requests, not usage, so these
    # decide where BestEffort pods go. OpenShift daemonsets (dns, ovnkube, multus,
    # node-exporter, tuned, machine-config-daemon) request about 0.8 CPU and 0.6 GiB on every
    # worker; monitoring (prometheus-k8s, alertmanager, thanos) and ingress add theirs where they
    # run. Memory requests per worker are calibrated on the order in which the reference runs'
    # workers filled (third first at step ~97, first last at ~145).
    infra_cpu_request_m: tuple[float, ...] = (800.0,)
    infra_memory_request_mib: tuple[float, ...] = (7500.0, 2600.0, 600.0, 3200.0, 2600.0)
    # Infrastructure pods per worker, counted against maxPods (an OpenShift 4 worker runs about
    # 20 daemonset and infrastructure pods).
    infra_pods: int = 20
    # Page cache per worker at the start (reclaimable), and the hot part the kernel cannot drop
    # without thrashing (binaries and libraries of running services). Reference runs: active
    # memory of idle workers about 3 GiB each, MemFree floor about 135 MiB at saturation.
    # (Monitoring's time-series database lives mostly in page cache, hence more on the workers
    # that run it.)
    page_cache_mib: tuple[float, ...] = (3500.0, 1800.0, 1800.0, 3300.0, 1800.0)
    page_cache_min_mib: float = 300.0
    # Once MemFree is at its floor, new memory comes from reclaiming page cache, at this rate
    # (MiB/s per node); allocations beyond it wait in direct reclaim. Assumption (the runc
    # figures barely move between 5 and 20).
    reclaim_mib_s: float = 20.0
    # Page cache refills as services read files again, MiB per second. Assumption; the
    # reference runs show freed memory staying free for minutes after evictions, so it is slow.
    page_cache_refill_mib_s: float = 2.0
    # MemFree the kernel keeps by reclaiming (high watermark): reference runs at saturation
    # show 135-140 MiB per worker. The kernel OOM killer acts once reclaim cannot keep it.
    free_floor_mib: float = 135.0
    # Seconds a node thrashes (reclaim making no progress) before the kernel OOM killer picks
    # a victim: the kernel retries reclaim many times first, which is why nodes become
    # unresponsive (reference runs README: ssh disconnects near saturation). Calibrated on the
    # reference runc run (it sets how often pods are killed once memory is full, hence the
    # plateau of running pods); 15-30 s keeps all three runc figures within 25%.
    oom_delay_s: float = 25.0
    # The kubelet's CRI calls time out after this long (--runtime-request-timeout, default
    # 2m): a sandbox not set up by then is torn down and tried again after a back-off
    # (FailedCreatePodSandBox), so set-ups that a thrashing or broken node stretches past it
    # never finish: pods pile up in ContainerCreating.
    runtime_request_timeout_s: float = 120.0
    # Node services stall with everything else on a thrashing node: their timers advance at
    # the share of the step the node served what was asked of it (memory.served_share), but
    # at least at these rates. A runtime's sandbox set-up keeps 1.2% of its pace
    # (runtime_min_progress; a runtime profile can raise it for itself: setup_min_progress,
    # kata's VM launches), so a runc set-up of about 1.5 s takes about two minutes, the
    # kubelet's CRI timeout, on a node thrashing throughout, and longer where the node's
    # services get less CPU than they want (cpu.system_slowdown): where the eviction manager
    # relieves the node now and then (runc.csv) pods keep starting, where it cannot (the later
    # runs' blind kubelets) they pile up in ContainerCreating. Calibrated on runc.csv: 0 keeps
    # it under 250 running pods, 0.02 gives 360 (limited-runc.csv stays at 119-121 either way:
    # its nodes' spinning pods leave their services too little CPU). The kubelet's eviction
    # passes keep a third of their pace (its hot pages are refaulted first); calibrated on the
    # reference runc run: this sets how many MemoryPressure episodes, hence evictions, happen
    # (0.1 gives about half the evictions, 0.5 about twice).
    runtime_min_progress: float = 0.012
    kubelet_min_progress: float = 0.35
    # CPU (cores) the node spends reclaiming while it thrashes (kswapd and direct reclaim).
    thrash_cpus: float = 2.0
    # /dev/shm (tmpfs) is 50% of RAM by default; kata guest memory is backed by it (kata
    # virtio-fs how-to; kata runtime#2766).
    shm_fraction: float = 0.5
    # Seconds from deletion to gone: the workload exits on SIGTERM (workload.stopper), so the
    # 30 s terminationGracePeriodSeconds is a bound never reached; runtimes add teardown_s.
    termination_s: float = 1.0
    # Model step, seconds of virtual time.
    tick_s: float = 1.0
    # Cluster state left by an earlier run: pods stuck Terminating whose sandboxes hung (a
    # kata shim that no longer answers), spread over the workers. Their API objects stay and
    # their nodes' kubelets cannot get pod stats (the hung sandbox's stats call times out), so
    # the eviction managers there fail every pass: no MemoryPressure, no eviction. Listed with
    # the run's pods when they are in its namespace. Reference: after the 2021 kata capacity
    # run "a large number of containers remain in Terminating state ... 35 of them after 3
    # days" (memory-capacity.md); the limited runs started with 37 listed.
    stuck_terminating_pods: int = 0
    stuck_pods_listed: bool = False
    # What earlier runs left in memory at start, per worker (cycled): anonymous memory their
    # stuck VMs' processes still hold (Active, never given back during the run), and page
    # cache of their files (reclaimed as memory is needed, not refilled). A cluster-state
    # profile takes them from the run's first sample of each worker: its Active above, and
    # the rest of its MemFree below, the idle cluster of the first capacity run (runc.csv).
    leftover_active_mib: tuple[float, ...] = (0.0,)
    leftover_cache_mib: tuple[float, ...] = (0.0,)
    # How many times longer each worker's runtime takes to set a sandbox up (cycled over the
    # workers): 1 for a healthy node. A node whose CRI-O has failed units (systemd scopes of
    # containers it could not clean up) serves its calls late or not at all.
    runtime_slowdown: tuple[float, ...] = (1.0,)
    # The runtime a pod with no RuntimeClass runs under: what ``default`` means in a workload
    # (the cluster's CRI-O default handler; runc on the OpenShift 4 releases of the reference
    # runs, crun on later ones).
    default_runtime: str = "runc"
    # CPU (scaler.sim.cpu). What the node's own services use outside pods (kubelet, CRI-O, OVS,
    # systemd, kernel housekeeping): the 500m systemReserved OpenShift budgets for them
    # (machine-config-operator static default; the same 0.5 core nodestatus counts in the load).
    system_cpu_cores: float = 0.5
    # What the infrastructure pods above use (DNS, SDN, node exporter, monitoring; Burstable
    # pods with infra_cpu_request_m): about 0.3 cores on an idle OpenShift 4 worker.
    # Assumption (the reference CSVs record no CPU).
    infra_cpu_cores: float = 0.3
    # cpu.shares of system.slice, against kubepods' allocatable-millicores x 1.024 (cgroup v1,
    # the OpenShift 4.6-4.8 of the reference runs: systemd's default 1024; kubelet node
    # allocatable). The QoS weights inside kubepods are kubelet rules, in scaler.sim.cpu.
    system_cpu_weight: float = 1024.0
    # A thrashing node's readers wait on refaults: this share of its idle CPU time shows as
    # iowait in /proc/stat. Assumption.
    thrash_iowait_share: float = 0.5


@dataclass
class RuntimeProfile:
    """How one runtime (RuntimeClass handler) costs memory and time on a node."""

    # RuntimeClass handler; empty for the cluster default runtime.
    handler: str = ""
    # RuntimeClass pod overhead (counted by the scheduler and as request for eviction ranking).
    overhead_mib: float = 0.0
    overhead_cpu_m: int = 0
    # Host memory per pod outside the workload: shim/conmon + pause for runc, QEMU + virtiofsd
    # + shim for kata.
    host_mib: float = 6.0
    # Is the pod a VM? Then the workload runs in a guest of vm_memory_mib (+ its limit,
    # hot-plugged), whose memory lives in host /dev/shm and is never given back.
    vm: bool = False
    vm_memory_mib: float = 2048.0
    # Where the guest's RAM lives on the host. "shared": a file in /dev/shm mapped shared
    # (QEMU memory-backend-file share=on, which virtio-fs needs: kata's shared_fs default):
    # Shmem, counted in Cached, on the inactive anon list of a node without swap (the kernel
    # adds shmem pages there and never ages anon lists without swap), never in MemAvailable,
    # and bounded by /dev/shm. "private": anonymous memory (Active(anon), AnonPages), bounded
    # by the node's memory only.
    guest_memory: str = "shared"
    # What happens to a VM whose guest touches a page /dev/shm cannot back. "pause": the host
    # fault fails (tmpfs full: SIGBUS), KVM_RUN returns EFAULT and QEMU stops the VM
    # (accel/kvm/kvm-all.c kvm_cpu_exec: "kvm run failed Bad address", then
    # vm_stop(RUN_STATE_INTERNAL_ERROR)) without exiting: the VM holds what it has, its
    # workload stops, and the shim, whose QEMU and container are still there, reports the
    # container running. The 2021 kata runs show it: their workers' /dev/shm full (8-10 GiB
    # per worker neither Active nor free) while 25 VMs per worker stayed Running at about
    # 300 MiB of guest RAM each, below the workload's 512 MiB, their running count flat for
    # hundreds of iterations with nothing Terminating (limited-kata.csv, iterations 600-999).
    # "die": QEMU exits (a hypervisor that aborts, or a runtime that stops sandboxes whose VM
    # is in error), the pod's sandbox is made anew.
    shm_full: str = "pause"
    # Host MiB per guest MiB touched when the guest RAM is private: QEMU asks for transparent
    # huge pages on anonymous guest RAM (madvise MADV_HUGEPAGE) and RHEL's THP default is
    # "always", so each 4 KiB page the guest touches faults in a 2 MiB host page, which the
    # guest's scattered allocations fill only partly. Shmem gets no huge pages (shmem_enabled
    # "never" by default), so shared guest RAM costs what it holds. Assumption: 2.5, which
    # puts a 500 MiB workload's VM at about 1.8 GiB, inside the 1.2-2 GiB of Active each of
    # kata.csv's first VMs took (its workers 1 and 3, iterations 7-25).
    private_guest_ratio: float = 2.5
    # Guest kernel + agent + guest page cache touched at boot (lives in the VM's memory).
    guest_base_mib: float = 0.0
    # Extra host memory per MiB the workload touches (page tables, guest struct pages, EPT).
    per_mib_overhead: float = 0.0
    # Host MiB a VM needs before its container runs (QEMU started, guest kernel and agent up);
    # the rest of host_mib and the guest's memory come while it runs. 0: all of it up front.
    boot_mib: float = 0.0
    # Seconds to create the pod sandbox with no load, and how much each other sandbox being
    # created on the same node adds (the runtime serialises part of the work).
    sandbox_s: float = 1.0
    sandbox_per_concurrent_s: float = 0.05
    # Container start after the sandbox exists (image already pulled).
    container_start_s: float = 0.3
    # Extra seconds to tear a pod down (a VM shuts down).
    teardown_s: float = 0.0
    # CPU cores a sandbox set-up burns over its nominal sandbox_s + container_start_s: a fixed
    # amount of work, spread over the time the set-up really takes (kubelet.setup_cpus).
    sandbox_cpus: float = 0.2
    # Pace a sandbox set-up keeps on a thrashing node, at least (the cluster's
    # runtime_min_progress applies to every runtime; this raises it for one). 0: set-up stalls
    # with the node.
    setup_min_progress: float = 0.0
    # Does the kubelet get this runtime's pod stats? The eviction manager works from the
    # summary stats; when they cannot be had for pods on a node, its pass fails and it neither
    # sets MemoryPressure nor evicts there (kubelet eviction manager: "failed to get summary
    # stats" ends the pass).
    pod_stats: bool = True
    # CPU (scaler.sim.cpu). The guest's vCPUs: a VM's workload never uses more (kata
    # default_vcpus = 1, configuration.toml; a container CPU limit hot-plugs ceil(limit) more).
    # 0: not a VM, the workload runs on the host's CPUs.
    vcpus: float = 0.0
    # Host CPU each running VM costs outside its guest (QEMU main loop and I/O threads,
    # virtiofsd, the shim), cores, whatever its guest does. It runs in the pod's cgroup
    # (sandbox_cgroup_only) and no request covers it beyond the RuntimeClass overhead.
    vm_host_cpu_cores: float = 0.0
    # Host CPU per CPU-second of guest time spent in VM exits (timer programming, interrupts,
    # vCPU halt and wake-up), counted as system time on the host.
    vm_exit_cpu_share: float = 0.0
    # Pages touched per CPU-second here relative to on the host (a guest's page touches go
    # through two-level EPT page walks).
    work_efficiency: float = 1.0
    # Work of a timer-paced loop (WorkloadProfile.pacing "timer") relative to on the host: a
    # guest's timer wakes the loop less often.
    paced_work_ratio: float = 1.0
    # CPU microseconds per 4 KiB page the workload touches for the first time: the page fault
    # and zeroing the page. RHEL's transparent huge pages ("always") fault the workload's big
    # anonymous buffer in 2 MiB pages, zeroed at memory speed (about 10 GB/s): about 0.4 us per
    # 4 KiB. Assumption. The C program's loops pay it in the pass that allocates
    # (scaler.sim.loops).
    first_touch_us: float = 0.4
    # For a VM: CPU microseconds per EPT fault, when the guest first touches memory the host
    # has not mapped for it yet (a VM exit, the host's page fault, the return). Shared guest RAM
    # (/dev/shm, shmem: no huge pages) is mapped 4 KiB at a time, one fault per page; private
    # guest RAM in 2 MiB huge pages, one per 512 pages. About 2 us with KVM on bare metal
    # (assumption); a cluster whose workers are VMs themselves runs its VMs nested, where each
    # such fault exits to the outer hypervisor and back through the worker's (profile files set
    # it).
    guest_fault_us: float = 0.0


def runc_profile() -> RuntimeProfile:
    return RuntimeProfile(
        handler="",
        overhead_mib=0.0,  # the default runtime has no RuntimeClass, so no pod overhead
        overhead_cpu_m=0,
        host_mib=6.0,  # conmon/shim + pause: about 1-11 MiB (cri-o, containerd issues)
        vm=False,
        sandbox_s=1.2,  # runc pod start about 1-2 s incl. CNI (kata CI baselines for runc)
        sandbox_per_concurrent_s=0.05,
        container_start_s=0.3,
        teardown_s=0.0,
        sandbox_cpus=0.2,
    )


def kata_profile() -> RuntimeProfile:
    return RuntimeProfile(
        handler="kata",
        # RuntimeClass overhead 350Mi / 250m (OpenShift sandboxed containers operator).
        overhead_mib=350.0,
        overhead_cpu_m=250,
        # Anonymous memory of QEMU + virtiofsd + shim (the guest's RAM is counted apart): about
        # 120 MiB PSS idle (kata metrics baselines; the 330 MiB RSS seen on real pods counts
        # mapped guest pages too). The later 2021 kata runs agree: 127 VMs bound there added
        # 10-15 GiB of Active to their cluster (restricted-kata-*-limit.csv).
        host_mib=120.0,
        vm=True,
        vm_memory_mib=2048.0,  # default_memory 2048 MiB (kata-containers configuration.toml)
        # Guest kernel, kata-agent and the guest page cache of the container image, touched at
        # boot and kept (lives in the VM's memory). Assumption.
        guest_base_mib=150.0,
        per_mib_overhead=0.02,  # guest struct pages and page tables: about 1.5-2% of RAM
        guest_fault_us=2.0,  # one level of EPT (RuntimeProfile.guest_fault_us)
        # A VM boots on its idle footprint, about 120 MiB PSS (kata metrics baselines): the
        # guest's base and the workload's pages come while it runs, as the node gives them. On a
        # full node that is slowly or never, so new VMs run small beside the big ones, which the
        # kernel OOM killer takes first (how kata.csv went on from 54 to 134 running pods with
        # MemFree at its floor all along). The boot is part of the sandbox's creation: a VM that
        # cannot find it before the kubelet's CRI timeout is given up and tried again.
        boot_mib=120.0,
        # VM boot adds about 0.4-0.7 s to runc's start, plus sandbox set-up (kata CI); lagging
        # 7-9 s under load (reference runs).
        sandbox_s=2.5,
        sandbox_per_concurrent_s=0.4,
        container_start_s=0.5,
        teardown_s=3.0,  # VM shutdown and virtiofsd exit (reference runs: kata pods linger in
        # Terminating)
        sandbox_cpus=1.0,
        # Kata sandbox set-up goes on at about half its pace on a thrashing node: the
        # reference kata run kept bringing VMs up (running 54 -> 134, steps 65-479) with its
        # workers' MemFree at the floor the whole time. Assumption, fitted to the reference kata
        # run with set-ups at the pace the node's services get CPU (cpu.system_slowdown: its
        # VMs spin a vCPU each, so kubepods take all they can): 0.5 gives 126-128 running, 0.3
        # 108-109, 0.8 131-133; 0 stalls set-up and about 65 run.
        setup_min_progress=0.5,
        # The reference kata run filled its workers' memory (MemFree at the floor from step 65)
        # yet recorded no eviction and no MemoryPressure rejection: the kubelet did not act on
        # those nodes. Kata 2.x pod stats come from the shim over the agent and failed or timed
        # out under load, which stops the eviction manager's pass. Calibrated on kata.csv; set
        # true for a runtime whose stats the kubelet gets.
        pod_stats=False,
        # CPU. One vCPU (kata configuration.toml default_vcpus = 1).
        vcpus=1.0,
        # QEMU's main loop and I/O threads, virtiofsd and the shim of a VM with no I/O to do:
        # a few percent of a core. Assumption (kata CI metrics measure memory, not this).
        vm_host_cpu_cores=0.03,
        # VM exits of a CPU-bound guest (timer ticks, interrupts). Assumption.
        vm_exit_cpu_share=0.03,
        # One kata pod alone at CPU=100 reported 1.50-1.58e8 pages/s (cpu-kata-100pct.csv,
        # iterations 3-9) where a runc pod reported 1.90e8 (cpu-runc-100pct.csv): 0.79.
        work_efficiency=0.79,
        # Alone below 100%, a kata pod reported 4.0-4.4e6 pages/s (cpu-kata-50pct.csv,
        # iterations 7-25) where a runc pod reported 8.6e6 (cpu-runc-50pct.csv, 3-15): 0.5,
        # its spinning loop's nanosleep calls arming the guest's timer, a VM exit each.
        paced_work_ratio=0.5,
    )


@dataclass
class WorkloadProfile:
    """The program the pods run, as far as the node's memory sees it."""

    # Resident set before the first allocation (binary, libraries, interpreter). Default: this
    # project's workload (workload.growth.BASE_RSS_MIB, measured by bench/bench_workload.py).
    # The C program of the 2021 runs (github c3d/workload, workload.c) is a small loop on libc:
    # about 1 MiB.
    base_rss_mib: float = growth.BASE_RSS_MIB
    # How MEMORY is reached: "exact" (workload.growth: the last step is cut short so the
    # resident set lands on MEMORY) or "increments" (workload.c: whole increments of data are
    # allocated while less than MEMORY is, on top of the base: 500 in 256 steps holds 512).
    growth: str = "exact"
    # What happens when the workload outgrows the memory it can have in a VM guest: "refused"
    # (our workload: the allocation fails and the increment halves) or "oom" (workload.c:
    # realloc succeeds under Linux's default overcommit and touching the pages gets the
    # process OOM-killed by the guest kernel; the container restarts in the same VM, whose
    # pages stay allocated on the host).
    guest_full: str = "refused"
    # Work (scaler.sim.cpu): 4 KiB pages the workload touches per CPU-second. Calibrated on the
    # published CPU runs: one pod alone at CPU=100 reported 1.89-1.97e8 pages per ~1 s period
    # (cpu-runc-100pct.csv, iterations 3-21, with 1, 2 and 6 pods running).
    pages_per_cpu_s: float = 1.9e8
    # How a loop below 100% CPU paces itself. "duty": busy, then sleep the rest of its period
    # (this project's workload, workload.dutycycle): it uses its CPU percent, all of it touching
    # pages. "timer": workload.c's loop touches its pages, then nanosleeps for its scale x the
    # time it took; the busy share it measures stays under its setting, so its feedback drives
    # the scale to its clamp (1% of the wanted one) and the sleeps it asks for to tens of
    # nanoseconds, less than a timer can wait: the loop spins through nanosleep calls that come
    # back at once, at every setting below 100%.
    pacing: str = "duty"
    # For "timer": pages/s such a loop alone does, whatever the setting (README of the
    # reference runs: ~8.5e6 at 10 to 80%; cpu-runc-{10,20,50,80}pct.csv first iterations
    # 7.3e6-8.7e6: 4.5% of the 1.9e8 a CPU touches when it does nothing else), and the CPU it
    # costs: a whole core, the rest of it in the syscalls. The published runs agree: their work
    # per pod falls from 17-23 running pods and their total peaks at 28-31 pods' worth, as the
    # CPU=100 run's from 9 and at 36, not from the ~300 pods a loop costing its page touching
    # alone would take to fill the nodes. And a guest's timer calls exit to the hypervisor, so
    # kata's loops turn half as fast (RuntimeProfile.paced_work_ratio).
    paced_pages_per_s: float = 8.5e6
    paced_cpu_cores: float = 1.0


@dataclass
class ControlPlaneProfile:
    """What API calls cost a client (timing saturation), and the controllers' rates.

    Reference runs: each iteration (``oc login``, ``oc scale``, ``sleep 5``, one ``oc get pods``)
    took 5.6-5.7 s with a handful of pods, 5.9-6.4 s at the end of the kata runs whose nodes
    had memory to spare (about 1,000 pod objects, 127 of them bound), and 8.8-10 s at the end of
    the runs whose workers all thrashed (runc.csv, kata.csv, limited-runc.csv).
    """

    # Starting the client binary for one call (oc or kubectl: process start, kubeconfig, TLS
    # handshake): about 0.1 s (kubectl 1.32 starts in about 60 ms on this project's machine).
    client_start_s: float = 0.1
    # One request's round trip with an empty namespace. With client_start_s and
    # login_requests it makes the reference runs' first iterations 5.6-5.7 s (three calls,
    # seven requests, and sleep 5).
    request_s: float = 0.06
    # Requests of an ``oc login`` (OAuth server metadata, the token request, the user).
    login_requests: int = 3
    # LIST cost per pod object in the namespace (serialisation, transfer, client decoding and
    # table printing), Pending ones included: (6.2 - 5.7) s over about 1,000 objects at the
    # end of the restricted kata runs.
    list_per_object_s: float = 0.0005
    # Write (scale) cost per object the controllers must reconcile.
    write_per_object_s: float = 0.0001
    # The reference cluster ran its masters and workers as VMs on one physical host (c3d
    # README: 64 CPUs, 384 GB; "the host has a load average of about 50" at the end), so
    # workers thrashing in reclaim slow the whole control plane down: every call takes
    # 1 + thrash_slowdown x (the share of workers thrashing, averaged over a minute) times as
    # long. 2.5: with every worker thrashing calls take 3.5x as long, which brings the late
    # iterations of runc.csv, kata.csv and limited-runc.csv to 8.8-10 s. 0 for a control
    # plane on hardware of its own.
    thrash_slowdown: float = 2.5
    # Pod creations per second by the ReplicaSet controller: one API call each, so the
    # controller manager's client rate, kube-controller-manager --kube-api-qps 20 (upstream
    # default, burst 30).
    controller_pods_per_s: float = 20.0
    # Pods bound per second by kube-scheduler: one binding call each, so its client rate,
    # KubeSchedulerConfiguration clientConnection.qps 50 (upstream default, burst 100).
    scheduler_pods_per_s: float = 50.0
    # Large clusters run both with higher client rates, and the model follows from these sizes
    # on: 100 QPS for the controller manager and the scheduler from 100 workers (Kubernetes
    # SIG Scalability's large-cluster test jobs: CONTROLLER_MANAGER_TEST_ARGS and
    # SCHEDULER_TEST_ARGS --kube-api-qps=100; a managed service's default is 100 too), 200 QPS
    # from 1,000 workers (Huawei CCE's controller and scheduler defaults above 1,000 nodes).
    large_cluster_workers: int = 100
    large_cluster_pods_per_s: float = 100.0
    huge_cluster_workers: int = 1000
    huge_cluster_pods_per_s: float = 200.0
    # Kubernetes version the model follows (reported in describe()).
    kubernetes_version: str = "1.32"


@dataclass
class SimProfile:
    cluster: ClusterProfile = field(default_factory=ClusterProfile)
    runtimes: dict[str, RuntimeProfile] = field(
        default_factory=lambda: {"runc": runc_profile(), "kata": kata_profile()}
    )
    control_plane: ControlPlaneProfile = field(default_factory=ControlPlaneProfile)
    workload: WorkloadProfile = field(default_factory=WorkloadProfile)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def runtime(self, name: str) -> RuntimeProfile:
        """The parameters of runtime ``name``; ``default`` is the cluster's default runtime.
        The one place an unknown runtime is refused."""
        key = self.cluster.default_runtime if name == DEFAULT_RUNTIME_NAME else name
        try:
            return self.runtimes[key]
        except KeyError:
            known = ", ".join(sorted(self.runtimes))
            raise UnknownRuntime(
                f"the simulator has no profile for runtime {name!r} (known: {known}); declare it "
                f'in a profile file: {{"runtimes": {{"{name}": {{"like": "kata"}}}}}}'
            ) from None


def load_profile(
    path: str | None,
    *,
    workers: int | None = None,
    worker_cpus: int | None = None,
    worker_memory_mib: int | None = None,
) -> SimProfile:
    """Defaults, overridden by the file at ``path`` (if any; or a shipped profile by name, see
    ``profile_file``), then by the explicit arguments."""
    from scaler.sim import profile_file

    return profile_file.load(path, workers=workers, worker_cpus=worker_cpus,
                             worker_memory_mib=worker_memory_mib)
