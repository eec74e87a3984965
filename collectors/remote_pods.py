"""Per-pod memory and the pods' work, read on the node by the collector's one long-lived bash loop.

What the loop reads (read-only; nothing is ever written on the node), with shell builtins only
(globs, ``read``, ``mapfile``, ``[[ =~ ]]``: no process per pod or per sample):

* **Pod cgroups** (every pod sample): the memory controller is found under the cgroup root
  (v2: ``cgroup.controllers`` lists ``memory``; v1: ``memory/memory.stat``), then the kubelet's
  layout: ``kubepods.slice/kubepods-<qos>.slice/kubepods-<qos>-pod<uid>.slice`` (systemd
  driver; the UID's dashes are underscores there) or ``kubepods/<qos>/pod<uid>`` (cgroupfs);
  Guaranteed pods sit directly under ``kubepods[.slice]``. Per pod: v2 ``memory.current``,
  ``memory.stat`` (anon, file, shmem, kernel, inactive_file; before Linux 5.18 has no
  ``kernel`` line, kernel_stack + pagetables + percpu + sock + vmalloc + slab stands in) and
  ``cpu.stat`` usage_usec; v1 ``memory.usage_in_bytes``, ``memory.stat`` (total_rss,
  total_cache, total_shmem, total_inactive_file: the hierarchical figures, containers
  included), ``memory.kmem.usage_in_bytes`` and ``cpuacct.usage``. memory.stat's line order is
  fixed per kernel, so the loop finds each key's line number once and then only checks it.
* **Kata's overhead cgroup**: with ``sandbox_cgroup_only=false`` the Go runtime moves the VMM,
  virtiofsd and the shim to ``kata_overhead/<sandbox id>`` at the root of the memory hierarchy
  (``resCtrlKataOverheadID`` in src/runtime/virtcontainers/sandbox.go; "TODO: support systemd
  cgroups overhead cgroup", so it is a plain path even with the systemd driver); runtime-rs
  uses ``kata-overhead.slice`` with the systemd driver (``gen_overhead_path``). Only the vCPU
  threads stay in the sandbox cgroup under the pod cgroup (docs/design/host-cgroups.md). With
  ``sandbox_cgroup_only=true`` everything runs in a ``kata_<id>`` / ``crio-<id>.scope`` child
  of the pod cgroup and there is no overhead cgroup. The mode is recorded per node (``overhead``
  when such cgroups exist, ``sandbox`` when a VMM was found inside a pod cgroup) and per pod
  (where its VMM's /proc/<pid>/cgroup points: ``p`` inside the pod cgroup, ``o`` outside).
* **Host processes of each sandbox**: VMM (qemu-kvm, qemu-kiwi, qemu-system-*,
  cloud-hypervisor, firecracker), virtiofsd, containerd-shim-*, conmon, pause, runc/crun; any
  other process in a pod cgroup is the workload (runc pods). A process is classified by the
  basename of argv[0] (what ``ps`` shows) and mapped to its pod by its /proc/<pid>/cgroup when
  that names ``pod<uid>``; otherwise by a 64-hex sandbox or container id found in its cgroup path
  or command line (qemu ``-name sandbox-<id>``, virtiofsd's socket/shared dir
  ``.../<id>/...``, the shim's ``-id <id>``, ``kata_overhead/<id>``) that names a child cgroup of
  a pod cgroup (each pod cgroup has one per container, the sandbox's included).
  Finding them means reading /proc/<pid>/cgroup of every process, so the process list is only
  looked at when the set of pod cgroups changes or every ``rescan_every`` pod samples, and then
  only pids not seen before are read (every ``full_rescan_every`` rescans all are, for pid
  reuse). Each pod sample reads /proc/<pid>/statm of the known pids only (O(1) in the kernel,
  one ``read``: resident and shared pages, so RssAnon = resident - shared), plus
  /proc/<pid>/status for VMMs (RssShmem, HugetlbPages: the guest's RAM) and /proc/<pid>/comm
  for runc/crun pids (``runc init`` becomes the workload by exec: such a pid is classified
  again). A pid that is gone is dropped, and the process list looked at again.
* **PSS** comes from /proc/<pid>/smaps_rollup, which walks every page table entry of the
  process: 32 ms for a process with 512 MiB resident on the 2-core test machine, so a node of
  250 kata VMs cannot afford one per VMM per sample. Rollups therefore run under a time budget
  per pod sample (``pss_budget_ms``; never-measured processes first, then round robin), and
  what is kept from them is ``Pss_File``: the process's share of file pages (binaries and
  libraries, shared by every VMM or shim on the node), which changes only when the number of
  sharers does. The runtime figure is RssAnon (fresh) + Pss_File (latest rollup; the shared
  pages, an upper bound, until the first one or when smaps_rollup is not readable; on kernels
  without Pss_File, Pss - RssAnon - RssShmem). Each known process gets a fresh rollup about
  every ``rescan_every`` pod samples, within the budget.
* **Guest memory**: kata's VMM maps the guest RAM from a shared file (``memory-backend-file``
  on /dev/shm for virtio-fs, unlinked once mapped, or hugetlbfs), so guest pages the VM has
  touched are the VMM's RssShmem (+ HugetlbPages): that is the guest backing, read without
  entering the guest and kept out of the runtime figure. (firecracker's guest RAM is private
  anonymous memory of the VMM: it shows in the runtime figure there.)
* **Work reports** (every frame): the workload writes its report line (team contract 8) to a
  file on an emptyDir volume; on the node that file is
  ``/var/lib/kubelet/pods/<pod uid>/volumes/kubernetes.io~empty-dir/<volume>/<file>``, also
  under kata, where a default-medium emptyDir is a host directory shared into the VM with
  virtio-fs (a ``medium: Memory`` emptyDir lives inside the guest and cannot be read; nor can
  kata's ``emptydir_mode=block-encrypted``). Each file is one ``read -r``. A report is fresh
  when ``node clock - epoch_us <= 3 * period_us`` (and not more than 3 periods in the future);
  a kata guest's clock may be off the node's, so a report that fails that test is still fresh
  when its timestamp changed since a look at most 3 periods ago by the node's clock (written
  after that look), and is counted as ``skewed``.

Privileges: cgroup files, /proc/<pid>/status, cmdline and cgroup are world-readable; other
users' smaps_rollup and /var/lib/kubelet need root. ``--ssh-sudo auto`` starts the one loop
under ``sudo -n`` when that works without a password (the ``core`` user of OpenShift nodes),
else as the login user; what could and could not be read is sent in an ``@@access`` line.
"""

from __future__ import annotations

from dataclasses import dataclass

# The workload's report file on an emptyDir volume (team contract 8): the Deployment mounts a
# volume of this name and sets REPORT to REPORT_MOUNT/REPORT_FILE in the container.
REPORT_VOLUME = "scaler-report"
REPORT_FILE = "report"
REPORT_MOUNT = "/var/run/scaler"
REPORT_PATH = f"{REPORT_MOUNT}/{REPORT_FILE}"

SUDO_CHOICES = ("auto", "never", "always")


@dataclass(frozen=True)
class PodReading:
    """What the remote loop reads besides node memory, and how often.

    ``pod_interval_s``: per-pod memory every this long (rounded to whole sampling intervals, at
    least one); 0 turns per-pod reading off. ``work``: read the workload report files every
    sample. ``sudo``: ``auto`` (use ``sudo -n`` when it works), ``never``, ``always`` (refuse
    to run without it). The roots are the node's own unless a test points them elsewhere.
    """

    pod_interval_s: float = 5.0
    work: bool = True
    sudo: str = "auto"
    cgroup_root: str = "/sys/fs/cgroup"
    kubelet_root: str = "/var/lib/kubelet"
    pss_budget_ms: float = 20.0
    rescan_every: int = 12
    full_rescan_every: int = 10

    def __post_init__(self) -> None:
        if self.sudo not in SUDO_CHOICES:
            raise ValueError(f"sudo must be one of {', '.join(SUDO_CHOICES)}")
        if self.pod_interval_s < 0 or self.pss_budget_ms < 0:
            raise ValueError("pod interval and PSS budget cannot be negative")
        if self.rescan_every < 1 or self.full_rescan_every < 1:
            raise ValueError("rescan periods must be at least 1")
        for root in (self.cgroup_root, self.kubelet_root):
            if not root.startswith("/") or "\n" in root:
                raise ValueError(f"not an absolute path: {root!r}")

    def pod_every(self, interval_s: float) -> int:
        """Pod samples every this many frames (0: never)."""
        if self.pod_interval_s <= 0:
            return 0
        return max(1, int(round(self.pod_interval_s / interval_s)))


NO_PODS = PodReading(pod_interval_s=0.0, work=False, sudo="never")

# Positional parameters of the bash loop after $1 (interval us) and $2 (count):
# $3 pod every N frames, $4 work 0/1, $5 cgroup root, $6 kubelet root, $7 PSS budget us,
# $8 rescan every N pod samples, $9 full rescan every N rescans, ${10} how it was started.
# Globals throughout (bash functions cost little; a subshell would be a fork). The per-pod and
# per-process paths are written inline: on a loaded 2-core machine a bash function call costs
# ~8 us and a file read ~35-50 us, so what a sample costs is mostly the files it opens.
# Arrays: pc/pu class and pod of a known pid, ig pids not of any sandbox, pf Pss_File (KiB, or
# p<Pss> on kernels without Pss_File, or - when unreadable), sm sandbox/container id -> pod,
# hs pods whose ids are known, vw where a pod's VMM runs (p|o), od overhead cgroup -> id,
# wl/wt/wc a report's last timestamp, last look, look before its last change; wr/wm fresh rate
# and rss per pod; rta/rtf/gst/wlr per-pod sums of a sample.
BASH_PODS = r"""pe=$3; wk=$4; cg=$5; kl=$6; bud=$7; rse=$8; fre=$9; who=${10}
if (( BASH_VERSINFO[0] * 100 + BASH_VERSINFO[1] < 404 )); then pe=0; wk=0; fi
shopt -s nullglob
declare -A pc=() pu=() ig=() sm=() hs=() pf=() vw=() od=() wl=() wt=() wc=() wr=() wm=() rta=() rtf=() gst=() wlr=() ovh=() seen=()
declare -a pods=() rl=() a=() mk=() ix=()
cv=none; drv=none; mr=; kp=; ca=; mc=; mode=-; sig=; nres=0; nscan=0; rp=0; smx=-; kla=-; np=0; po=; nst=0; ir=-1; ish=-1; ihu=-1; nps=0
pg=4; a=(); mapfile -t a < /proc/$$/status; read -r x rs x < /proc/$$/statm
for x in "${a[@]}"; do [[ $x == VmRSS:* ]] && { x=${x//[!0-9]/}; (( rs > 0 )) && pg=$(( (x + rs / 2) / rs )); }; done
if (( pg >= 48 )); then pg=64; elif (( pg >= 12 )); then pg=16; else pg=4; fi
lay() {
local x=; cv=none; drv=none; mr=; kp=; ca=
if [[ -r $cg/cgroup.controllers ]]; then IFS= read -r x < "$cg/cgroup.controllers"; [[ " $x " == *" memory "* ]] && { cv=v2; mr=$cg; ca=$cg; }; fi
if [[ $cv == none && -r $cg/memory/memory.stat ]]; then cv=v1; mr=$cg/memory
for x in "$cg/cpuacct" "$cg/cpu,cpuacct"; do [[ -r $x/cpuacct.usage ]] && { ca=$x; break; }; done
fi
if [[ -n $mr && -d $mr/kubepods.slice ]]; then drv=systemd; kp=$mr/kubepods.slice
elif [[ -n $mr && -d $mr/kubepods ]]; then drv=cgroupfs; kp=$mr/kubepods; fi
if [[ $cv == v2 ]]; then mk=(anon file shmem kernel inactive_file kernel_stack pagetables percpu sock vmalloc slab); mc=memory.current
else mk=(total_rss total_cache total_shmem - total_inactive_file); mc=memory.usage_in_bytes; fi
}
podlist() {
case $drv in
systemd) pods=("$kp"/kubepods-pod*.slice "$kp"/kubepods-burstable.slice/kubepods-burstable-pod*.slice "$kp"/kubepods-besteffort.slice/kubepods-besteffort-pod*.slice);;
cgroupfs) pods=("$kp"/pod* "$kp"/burstable/pod* "$kp"/besteffort/pod*);;
*) pods=();;
esac
}
uidof() {
case $1 in */kubepods-burstable-pod*|*/burstable/pod*) q=b;; */kubepods-besteffort-pod*|*/besteffort/pod*) q=e;; *) q=g;; esac
if [[ $drv == systemd ]]; then u=${1##*-pod}; u=${u%.slice}; u=${u//_/-}; else u=${1##*/pod}; fi
}
statidx() {
local i j k; ix=(); nst=${#a[@]}
for j in "${!mk[@]}"; do ix[j]=$nst; done
for i in "${!a[@]}"; do k=${a[i]%% *}; for j in "${!mk[@]}"; do [[ $k == "${mk[j]}" ]] && ix[j]=$i; done; done
}
classify() {
local x= a0 c u= inpod=0 k; local -a av=()
IFS= read -r -d '' x < "$2/cgroup"
case $x in *kubepods*|*kata*|*containerd*|*crio*) ;; *) ig[$1]=1; return;; esac
mapfile -d '' -t av < "$2/cmdline"; a0=${av[0]##*/}
[[ -n $a0 ]] || { ig[$1]=1; return; }
case $a0 in
qemu-kvm|qemu-kiwi|qemu-system-*|qemu|cloud-hypervisor|firecracker) c=vmm;;
virtiofsd*) c=vfs;;
containerd-shim*) c=shim;;
conmon) c=conmon;;
pause) c=pause;;
runc|runc:*|crun) c=oci;;
*) c=wl;;
esac
if [[ $x =~ pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12}) ]]; then u=${BASH_REMATCH[1]//_/-}; inpod=1
else
[[ $c == wl ]] && { ig[$1]=1; return; }
k="$x ${av[*]}"
while [[ $k =~ [0-9a-f]{64} ]]; do u=${sm[${BASH_REMATCH[0]}]}; [[ -n $u ]] && break; k=${k#*"${BASH_REMATCH[0]}"}; done
[[ -n $u ]] || return
fi
pc[$1]=$c; pu[$1]=$u
if [[ $c == vmm ]]; then if (( inpod )); then vw[$u]=p; else vw[$u]=o; fi; fi
}
rescan() {
local d x p
nscan=$((nscan+1))
if (( nscan % fre == 0 )); then pc=(); pu=(); ig=(); pf=(); sm=(); hs=(); vw=(); fi
for d in "${pods[@]}"; do uidof "$d"; [[ -n ${hs[$u]} ]] && continue
for x in "$d"/*/; do [[ $x =~ [0-9a-f]{64} ]] && { sm[${BASH_REMATCH[0]}]=$u; hs[$u]=1; }; done
done
od=(); for d in "$mr"/kata_overhead/*/ "$mr"/kata-overhead.slice/*/; do [[ $d =~ [0-9a-f]{64} ]] && od[$d]=${BASH_REMATCH[0]}; done
rl=()
for d in /proc/[0-9]*; do p=${d#/proc/}
[[ -n ${pc[$p]} || -n ${ig[$p]} ]] || classify "$p" "$d"
[[ -n ${pc[$p]} && ${pc[$p]} != wl ]] && rl+=("$p")
done
}
roll() {
local -a r=(); local i
mapfile -t r < "/proc/$1/smaps_rollup"
if (( ${#r[@]} == 0 )); then [[ -e /proc/$1/statm ]] && { pf[$1]=-; smno=1; }; return; fi
smok=1; i=$ir
if (( i < 0 )) || [[ ${r[i]} != Pss_File:* && ${r[i]} != Pss:* ]]; then ir=-1
for i in "${!r[@]}"; do [[ ${r[i]} == Pss:* ]] && (( ir < 0 )) && ir=$i; [[ ${r[i]} == Pss_File:* ]] && ir=$i; done; i=$ir; fi
if (( i < 0 )); then pf[$1]=-; elif [[ ${r[i]} == Pss_File:* ]]; then pf[$1]=${r[i]//[!0-9]/}; else pf[$1]=p${r[i]//[!0-9]/}; fi
}
rollups() {
local t0=${EPOCHREALTIME//[!0-9]/} k=0 m=${#rl[@]} p lim
(( m )) || return 0
for p in "${rl[@]}"; do [[ -n ${pc[$p]} && -z ${pf[$p]} ]] || continue
roll "$p"; (( ${EPOCHREALTIME//[!0-9]/} - t0 < bud )) || return 0; done
lim=$(( (m + rse - 1) / rse ))
while (( k < m && lim > 0 )); do p=${rl[(rp+k)%m]}; k=$((k+1))
[[ -n ${pc[$p]} && ${pf[$p]} != - ]] || continue
roll "$p"; lim=$((lim-1)); (( ${EPOCHREALTIME//[!0-9]/} - t0 < bud )) || break; done
rp=$(( (rp+k) % m ))
}
procs() {
local p x c u rs sh an f n shm
rta=(); rtf=(); gst=(); wlr=()
for p in "${!pc[@]}"; do c=${pc[$p]}; u=${pu[$p]}
rs=; read -r x rs sh x < "/proc/$p/statm"
if [[ -z $rs ]] || { [[ $c == oci ]] && { n=; IFS= read -r n < "/proc/$p/comm"; [[ $n != runc* && $n != crun* ]]; }; }; then
unset "pc[$p]" "pu[$p]" "pf[$p]"; sig=; continue; fi
rs=$((rs*pg)); sh=$((sh*pg))
if [[ $c == wl ]]; then wlr[$u]=$(( ${wlr[$u]:-0} + rs )); continue; fi
an=$((rs-sh)); f=${pf[$p]:--}; shm=0
if [[ $c == vmm ]]; then
a=(); mapfile -t a < "/proc/$p/status"
if (( ish < 0 )) || [[ ${a[ish]} != RssShmem:* ]]; then ish=-1; ihu=-1; for n in "${!a[@]}"; do [[ ${a[n]} == RssShmem:* ]] && ish=$n; [[ ${a[n]} == HugetlbPages:* ]] && ihu=$n; done; fi
n=0; (( ish >= 0 )) && shm=${a[ish]//[!0-9]/}; (( ihu >= 0 )) && n=${a[ihu]//[!0-9]/}
gst[$u]=$(( ${gst[$u]:-0} + ${shm:-0} + ${n:-0} )); sh=$((sh - ${shm:-0}))
fi
case $f in -) f=$sh;; p*) f=$(( ${f#p} - an - ${shm:-0} )); (( f < 0 )) && f=0;; esac
rta[$u]=$(( ${rta[$u]:-0} + an )); rtf[$u]=$(( ${rtf[$u]:-0} + f ))
done
}
work() {
local f u tag ver ep rate per tot rss cpu lim fresh
wrate=0; wn=0; wst=0; wsk=0
if [[ ! -d $kl/pods ]]; then kla=absent; return; fi
if [[ ! -r $kl/pods || ! -x $kl/pods ]]; then kla=denied; return; fi
kla=ok; wr=(); wm=()
for f in "$kl"/pods/*/volumes/kubernetes.io~empty-dir/@VOLUME@/@FILE@; do
u=${f#"$kl"/pods/}; u=${u%%/*}; tag=
read -r tag ver ep rate per tot rss cpu < "$f"
[[ $tag == scaler-work && $ver == 1 && -n $ep$rate$per && $ep$rate$per$rss != *[!0-9]* ]] || continue
[[ ${wl[$u]} != "$ep" && -n ${wt[$u]} ]] && wc[$u]=${wt[$u]}
wl[$u]=$ep; wt[$u]=$t; lim=$(( 3 * per )); fresh=0
if (( t - ep <= lim && ep - t <= lim )); then fresh=1
elif [[ -n ${wc[$u]} ]] && (( t - wc[$u] <= lim )); then fresh=1; wsk=$((wsk+1)); fi
if (( fresh )); then wrate=$((wrate+rate)); wn=$((wn+1)); wr[$u]=$rate; wm[$u]=${rss:--}; else wst=$((wst+1)); fi
done
}
podsample() {
local d x c an fi sh ke in cpu j v o=
lay; podlist
x="${pods[*]}"; nres=$((nres+1))
if [[ $x != "$sig" ]] || (( nres >= rse )); then sig=$x; nres=0; rescan; fi
smok=0; smno=0
rollups; procs
if (( smok && smno )); then smx=partial; elif (( smno )); then smx=denied; elif (( smok )); then smx=ok; fi
ovh=(); for d in "${!od[@]}"; do u=${sm[${od[$d]}]}; [[ -n $u ]] || continue
c=; read -r c < "$d$mc"; [[ -n $c && $c != *[!0-9]* ]] && ovh[$u]=$(( ${ovh[$u]:-0} + c / 1024 )); done
mode=-; (( ${#od[@]} )) && mode=overhead
[[ $mode == - && " ${vw[*]} " == *" p "* ]] && mode=sandbox
seen=(); np=0
for d in "${pods[@]}"; do uidof "$d"; seen[$u]=1
c=; read -r c < "$d/$mc"; [[ -n $c && $c != *[!0-9]* ]] && c=$((c/1024)) || c=-
a=(); mapfile -t a < "$d/memory.stat"
(( ${#a[@]} == nst )) && [[ ${a[ix[0]]} == "${mk[0]} "* ]] || statidx
v=${a[ix[0]]#* }; [[ -n $v ]] && an=$((v/1024)) || an=-; v=${a[ix[1]]#* }; [[ -n $v ]] && fi=$((v/1024)) || fi=-
v=${a[ix[2]]#* }; [[ -n $v ]] && sh=$((v/1024)) || sh=-; v=${a[ix[4]]#* }; [[ -n $v ]] && in=$((v/1024)) || in=-
if [[ $cv == v2 ]]; then v=${a[ix[3]]#* }
if [[ -n $v ]]; then ke=$((v/1024)); else ke=0; for j in 5 6 7 8 9 10; do v=${a[ix[j]]#* }; ke=$((ke + ${v:-0})); done; ke=$((ke/1024)); fi
cpu=; read -r x cpu < "$d/cpu.stat"; [[ $x == usage_usec && -n $cpu ]] || cpu=-
else ke=; read -r ke < "$d/memory.kmem.usage_in_bytes"; [[ -n $ke ]] && ke=$((ke/1024)) || ke=-
cpu=; [[ -n $ca ]] && read -r cpu < "$ca${d#"$mr"}/cpuacct.usage"; [[ -n $cpu ]] && cpu=$((cpu/1000)) || cpu=-
fi
o+="$u $q $c $an $fi $sh $ke $in $cpu ${ovh[$u]:--} ${rta[$u]:--} ${rtf[$u]:--} ${gst[$u]:--} ${wlr[$u]:--} ${vw[$u]:--} ${wr[$u]:--} ${wm[$u]:--}$nl"
np=$((np+1))
done
for u in "${!wr[@]}"; do [[ -n ${seen[$u]} ]] && continue
o+="$u - - - - - - - - - ${rta[$u]:--} ${rtf[$u]:--} ${gst[$u]:--} ${wlr[$u]:--} ${vw[$u]:--} ${wr[$u]} ${wm[$u]:--}$nl"; np=$((np+1)); done
po="@@pods $cv $drv $mode $np$nl$o@@access euid=$EUID via=$who cgroup=$cv pods=$drv smaps=$smx kubelet=$kla$nl"
}
"""


def bash_pods(volume: str = REPORT_VOLUME, file: str = REPORT_FILE) -> str:
    """The pod functions with the report volume and file names in place (glob-safe names)."""
    for name in (volume, file):
        if not name or any(not (ch.isalnum() or ch in "-_.") for ch in name):
            raise ValueError(f"bad report name {name!r}")
    return BASH_PODS.replace("@VOLUME@", volume).replace("@FILE@", file)
