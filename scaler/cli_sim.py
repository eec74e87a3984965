"""``scaler sim``: the simulated cluster on its own. ``scaler sim serve`` puts it behind the
Kubernetes API so kubectl, oc and ``scaler run --cluster openshift`` drive it like a real one."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import click

from scaler.errors import UserError
from scaler.units import SIZE_MIB


@click.group("sim")
def sim() -> None:
    """The simulated cluster (a model, not a real cluster)."""


@sim.command("serve")
@click.option("--sim-profile", "--profile", "profile", type=click.Path(dir_okay=False),
              default=None,
              help="Simulator profile file (JSON or YAML) overriding the default profiles "
                   "(the same file `scaler run --sim-profile` takes).")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Worker nodes.")
@click.option("--worker-cpus", type=click.IntRange(min=1), default=None, help="vCPUs per worker.")
@click.option("--worker-memory", "worker_memory_mib", type=SIZE_MIB, default=None,
              help="Memory per worker (16Gi, 8192), as `scaler run --worker-memory`.")
@click.option("--seed", type=int, default=0, show_default=True, help="Model random seed.")
@click.option("--speed", type=click.FloatRange(min=0.01, max=1000), default=1.0, show_default=True,
              help="Model seconds per wall second.")
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="API port on 127.0.0.1 (0: any free port).")
@click.option("--kubeconfig", "kubeconfig", type=click.Path(dir_okay=False), default=None,
              help="Where to write the kubeconfig (default: WORKDIR/kubeconfig).")
@click.option("--workdir", type=click.Path(file_okay=False), default=None,
              help="Directory for the kubeconfig and SSH keys (default: a new temporary one).")
@click.option("--error-rate", type=click.FloatRange(0.0, 0.9), default=0.0, show_default=True,
              help="Fraction of API requests answered 500/503/429 (fault injection).")
@click.option("--latency", type=click.FloatRange(0.0, 60.0), default=0.0, show_default=True,
              help="Seconds added to every API request (fault injection).")
@click.option("--fault-seed", type=int, default=None, help="Seed of the fault injection.")
@click.option("--truth", type=click.Path(dir_okay=False), default=None,
              help="Write the model's own pod counts (CSV, one row per change) to this file.")
@click.option("--ssh/--no-ssh", default=True, show_default=True,
              help="Serve every node's /proc/meminfo over SSH on its loopback address.")
@click.option("--ssh-port", type=click.IntRange(0, 65535), default=0, show_default=True)
@click.option("--runtime-class/--no-runtime-class", default=True, show_default=True,
              help="Start with a 'kata' RuntimeClass, as a cluster with Kata installed has.")
@click.option("--kubelet-stats/--no-kubelet-stats", default=True, show_default=True,
              help="Serve each node's kubelet Summary API through the node proxy "
                   "(/api/v1/nodes/NODE/proxy/stats/summary), as a cluster's kubelets do.")
@click.option("--tick", type=click.FloatRange(0.02, 5.0), default=0.2, show_default=True,
              help="Wall seconds between model advances (and watch event batches).")
@click.option("--watch-timeout", type=click.FloatRange(1.0, 86400), default=1800.0,
              show_default=True, help="Longest a watch request stays open, seconds.")
@click.option("--bookmark-interval", type=click.FloatRange(0.1, 3600), default=10.0,
              show_default=True, help="Seconds between watch bookmarks.")
@click.option("--event-log", type=click.IntRange(min=10), default=20_000, show_default=True,
              help="Watch events kept; a watch from an older resourceVersion gets 410 Gone.")
@click.option("--state-dir", type=click.Path(file_okay=False), default=None,
              help="Keep the API and SSH ports, SSH keys, kubeconfig and the cluster's state "
                   "(objects, pods, resourceVersions, time) here, saved periodically and on "
                   "SIGTERM; a front started again with it continues where it stopped (the "
                   "cluster options --sim-profile, --workers, --seed... only shape a new "
                   "state). Default workdir when --workdir is not given.")
@click.option("--save-interval", type=click.FloatRange(0.5, 3600), default=10.0,
              show_default=True,
              help="With --state-dir: seconds between saves of the model (API writes are "
                   "saved within a second).")
@click.option("--users", "users_file", type=click.Path(dir_okay=False, exists=True), default=None,
              help="YAML users file: admins, namespace-scoped users and their cluster rules; "
                   "each gets a bearer token and a kubeconfig (<kubeconfig>-<user>), and RBAC "
                   "applies. Default: no authentication, every request is an admin.")
def serve_command(profile, workers, worker_cpus, worker_memory_mib, seed, speed, port, kubeconfig,
                  workdir, error_rate, latency, fault_seed, truth, ssh, ssh_port, runtime_class,
                  kubelet_stats, tick, watch_timeout, bookmark_interval, event_log, state_dir,
                  save_interval, users_file) -> None:
    """Serve the simulated cluster over the Kubernetes API on 127.0.0.1 (plain HTTP; no auth
    unless --users).

    \b
    Writes a kubeconfig and prints how to use it, e.g.:
      kubectl --kubeconfig KUBECONFIG apply -k manifests/
      scaler run --cluster openshift --kubeconfig KUBECONFIG --runtime kata
    Stops cleanly on Ctrl-C or SIGTERM.
    """
    import asyncio

    from scaler.sim import ProfileError, SimModel, load_profile
    from scaler.simserve.persist import StateError
    from scaler.simserve.serve import ServeOptions, serve

    if worker_memory_mib is not None:
        if worker_memory_mib < 512:
            raise UserError(
                f"--worker-memory must be at least 512Mi (got {worker_memory_mib:g} MiB)")
        worker_memory_mib = int(round(worker_memory_mib))
    try:
        prof = load_profile(profile, workers=workers, worker_cpus=worker_cpus,
                            worker_memory_mib=worker_memory_mib)
    except ProfileError as e:
        raise UserError(str(e)) from None
    except OSError as e:
        raise UserError(f"cannot read profile {profile}: {e.strerror}") from None
    if workdir:
        wd = Path(workdir)
    elif state_dir:
        wd = Path(state_dir)
    else:
        wd = Path(tempfile.mkdtemp(prefix="scaler-sim-"))
    try:
        wd.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create {wd}: {e.strerror}") from None
    users = None
    if users_file:
        from scaler.simserve.users import UsersError, load_users

        try:
            users = load_users(Path(users_file))
        except UsersError as e:
            raise UserError(f"--users: {e}") from None
    model = SimModel(prof, seed, start=time.time())
    options = ServeOptions(
        workdir=wd, port=port, speed=speed, tick_s=tick, error_rate=error_rate,
        latency_s=latency, fault_seed=fault_seed,
        kubeconfig=Path(kubeconfig) if kubeconfig else None,
        truth=Path(truth) if truth else None, ssh=ssh, ssh_port=ssh_port,
        runtime_class=runtime_class, kubelet_stats=kubelet_stats, watch_timeout_s=watch_timeout,
        bookmark_interval_s=bookmark_interval, event_log=event_log, users=users,
        state_dir=Path(state_dir) if state_dir else None, save_interval_s=save_interval)
    try:
        asyncio.run(serve(model, options))
    except OSError as e:
        raise UserError(f"cannot serve: {e.strerror or e}") from None
    except StateError as e:
        raise UserError(f"cannot restore --state-dir: {e}") from None
