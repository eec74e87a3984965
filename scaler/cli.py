"""`scaler` command line: `scaler run` scales a workload and records it.

Errors a user can cause (bad option, unreadable file, unreachable cluster) are one line on stderr
and exit code 2; a traceback means a bug in scaler.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import click

from scaler import __version__
from scaler.config import RunConfig, normalise_mode
from scaler.engine import CLUSTER_ERROR, INTERRUPTED, TERMINATED, Engine, RunResult, StopFlag
from scaler.recorder import Recorder
from scaler.ssh_options import ssh_options, ssh_settings_from
from scaler.status import StatusLine
from scaler.units import DURATION, SIZE_MIB
from scaler.workload_spec import DEFAULT_IMAGE, SCENARIOS, scenario


class UserError(click.ClickException):
    """A problem with what the user asked for: one line, exit 2."""

    exit_code = 2


class ScalerGroup(click.Group):
    """Prints every usage error as one line (``scaler: error: ...``), exit 2, no usage dump."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        name = prog_name or self.name or "scaler"
        prog_name = name
        try:
            rv = super().main(args=args, prog_name=prog_name, complete_var=complete_var,
                              standalone_mode=False, **extra)
        except click.exceptions.Exit as e:
            rv = e.exit_code
        except click.exceptions.Abort:
            click.echo(f"{name}: aborted", err=True)
            rv = 130
        except click.ClickException as e:
            msg = e.format_message()
            if isinstance(e, click.UsageError) and e.ctx is not None and not isinstance(
                e, click.BadParameter
            ):
                msg = f"{msg} (see '{e.ctx.command_path} --help')"
            click.echo(f"{name}: error: {msg}", err=True)
            rv = 2 if isinstance(e, click.UsageError) else e.exit_code
        if not standalone_mode:
            return rv
        sys.exit(rv if isinstance(rv, int) else 0)


@click.group(name="scaler", cls=ScalerGroup, context_settings={"auto_envvar_prefix": "SCALER",
                                                  "help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="scaler")
def main() -> None:
    """How many pods fit on a cluster under runc, under Kata Containers, and what each costs.

    `scaler run` scales a Deployment of a calibrated workload step by step, samples every node's
    memory, and writes run.csv, run.nodes.csv and run.meta.json. With no cluster named it runs
    on an embedded simulated cluster, in virtual time. Every option can also be set from the
    environment as SCALER_<COMMAND>_<OPTION>, e.g. SCALER_RUN_RUNTIME=kata.
    """


def _mode(ctx, param, value):
    try:
        return normalise_mode(value)
    except ValueError as e:
        raise click.BadParameter(str(e), ctx, param) from None


def _split(ctx, param, value) -> list[str]:
    items = [v.strip() for v in str(value).split(",") if v.strip()]
    if not items:
        raise click.BadParameter("empty list", ctx, param)
    if param.name == "scenario":
        for s in items:
            if s not in SCENARIOS:
                raise click.BadParameter(
                    f"unknown scenario {s!r} (choose from {', '.join(SCENARIOS)})", ctx, param)
    return list(dict.fromkeys(items))


def _positive_int(ctx, param, value):
    if value is not None and value < 1:
        raise click.BadParameter(f"must be at least 1 (got {value})", ctx, param)
    return value


@dataclass(frozen=True)
class ClusterChoice:
    kind: str
    kubeconfig: str | None
    context: str | None
    namespace: str
    client_binary: str | None
    adopt: bool
    sim_profile: str | None
    workers: int | None
    worker_cpus: int | None
    worker_memory_mib: float | None
    runtime_class_manifests: dict | None = None  # --runtime-class-manifest, by RuntimeClass name


def _workload(scen: str, runtime: str, kw: dict):
    spec = scenario(scen).with_(
        runtime=runtime, cpu_percent=kw["cpu"], image=kw["image"],
        memory_mib=None if kw["memory"] is None else int(round(kw["memory"])),
        increment_mib=None if kw["increment"] is None else int(round(kw["increment"])),
    )
    # 0 removes a scenario's request or limit ("no requests", as in the original measurements).
    for key, opt in (("request_mib", "request"), ("limit_mib", "limit")):
        if kw[opt] is not None:
            spec = spec.__class__(**{**spec.to_dict(), key: int(round(kw[opt])) or None})
    return spec


def _output_paths(output: str | None, runs: list[tuple[str, str]], mode: str) -> list[Path]:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    if len(runs) == 1:
        rt, sc = runs[0]
        if output:
            p = Path(output)
            return [p / f"{rt}-{sc}.csv" if p.is_dir() else p]
        return [Path("runs") / f"{rt}-{sc}-{mode}-{stamp}.csv"]
    base = Path(output) if output else Path("runs") / f"matrix-{stamp}"
    if base.suffix == ".csv":
        raise UserError(f"--output {output!r} names a file, but several runs need a directory")
    return [base / f"{rt}-{sc}.csv" for rt, sc in runs]


def _open_recorder(path: Path) -> Recorder:
    try:
        return Recorder(path)
    except OSError as e:
        raise UserError(f"cannot write {path}: {e.strerror or e}") from None


def _build_cluster(choice: ClusterChoice, seed: int, run_id: str, op_timeout_s: float,
                   sample_interval_s: float):
    if choice.kind == "simulated":
        from scaler.sim import ProfileError, build_simulated_cluster

        try:
            return build_simulated_cluster(
                choice.sim_profile, workers=choice.workers, worker_cpus=choice.worker_cpus,
                worker_memory_mib=choice.worker_memory_mib, seed=seed,
                sample_interval_s=sample_interval_s,
            )
        except ProfileError as e:
            raise UserError(str(e)) from None
    from scaler.openshift import OpenShiftCluster, OpenShiftOptions

    return OpenShiftCluster(OpenShiftOptions(
        kubeconfig=choice.kubeconfig, context=choice.context, namespace=choice.namespace,
        client_binary=choice.client_binary, adopt=choice.adopt, op_timeout_s=op_timeout_s,
        run_id=run_id, runtime_class_manifests=choice.runtime_class_manifests or {},
    ))


@contextmanager
def _signals(stop: StopFlag):
    """First SIGINT/SIGTERM asks the engine to stop after the current operation (and clean up);
    a second one interrupts at once (cleanup still runs)."""

    def handler(signum, frame):
        reason = INTERRUPTED if signum == signal.SIGINT else TERMINATED
        if stop.reason is not None:
            raise KeyboardInterrupt
        stop.request(reason)

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def _say(quiet: bool, msg: str) -> None:
    if not quiet:
        click.echo(msg, err=True)


def _human_summary(res: RunResult, path: Path) -> str:
    s = res.summary
    sat = s.get("saturation_step")
    lines = [
        f"end: {res.end_reason} after {res.steps} steps ({s['elapsed_s']:.0f} s "
        f"{'virtual' if s['cluster'] == 'simulated' else 'wall'}, {s['wall_s']:.1f} s real)",
        f"max running {s['max_running']} at step {s['max_running_step']}; "
        f"evicted {s['max_evicted']}; OOM kills {s['max_oom_killed']}; "
        f"saturation {'at step ' + str(sat) if sat else 'not detected'}",
        f"wrote {path}",
    ]
    if res.error:
        lines.insert(1, f"error: {res.error}")
    return "\n".join(lines)


def _one_run(choice, cfg: RunConfig, path: Path, *, quiet: bool, show_status: bool,
             sample_interval_s: float, ssh) -> RunResult:
    from scaler.cluster import ClusterError

    recorder = _open_recorder(path)
    run_id = f"{time.strftime('%Y%m%d%H%M%S', time.gmtime())}-{cfg.workload.runtime}"
    try:
        cluster = _build_cluster(choice, cfg.seed, run_id, cfg.op_timeout_s, sample_interval_s)
        info = cluster.describe()  # fails here, before anything is measured, if unreachable
        nodes = cluster.node_source()
        if nodes is None and ssh is not None:
            nodes = ssh(info)
    except ClusterError as e:
        recorder.discard()
        raise UserError(str(e)) from None
    except BaseException:
        recorder.discard()
        raise
    status = StatusLine(enabled=show_status)
    stop = StopFlag()

    def announce(info) -> None:
        front = " [the simulator's API front, not a real cluster]" if (
            info.kind != "simulated" and info.details.get("simulator")) else ""
        _say(quiet, f"scaler: driving a {info.kind} cluster ({info.version}, "
                    f"{len(info.nodes)} nodes){front}, runtime {cfg.workload.runtime}, "
                    f"scenario {cfg.scenario}, mode {cfg.mode}")

    engine = Engine(cluster, cfg, recorder, nodes, stop=stop, on_step=status.update,
                    on_prepared=announce, info=info,
                    node_stale_s=max(10.0, 3 * sample_interval_s),
                    meta={"run_id": run_id})
    with _signals(stop):
        try:
            result = engine.run()
        finally:
            status.clear()
    if result.end_reason == CLUSTER_ERROR and not result.prepared:
        # Nothing was measured: the cluster refused the set-up (e.g. an unknown RuntimeClass).
        # That is a bad request, not a run; leave no empty files behind.
        recorder.discard()
        raise UserError(result.error or "the cluster refused the run's set-up")
    return result


@main.command("run")
@click.option("--runtime", default="runc", show_default=True, callback=_split,
              help="RuntimeClass: runc (the cluster default), kata, or any name; a comma list "
                   "runs each in turn and compares them.")
@click.option("--mode", default="fixed-interval", show_default=True, callback=_mode,
              help="fixed-interval (or fixed) | wait | no-wait.")
@click.option("--scenario", default="capacity", show_default=True, callback=_split,
              help=f"{' | '.join(SCENARIOS)}; a comma list runs each in turn.")
@click.option("--cpu", type=float, help="Workload CPU percent of one CPU (scenario default 5).")
@click.option("--memory", type=SIZE_MIB, help="Workload memory target, MiB or 1Gi; 0 grows "
                                                 "without bound.")
@click.option("--increment", type=SIZE_MIB, help="Workload growth per loop, MiB.")
@click.option("--request", type=SIZE_MIB, help="Container memory request (0: none).")
@click.option("--limit", type=SIZE_MIB, help="Container memory limit (0: none).")
@click.option("--image", default=DEFAULT_IMAGE, show_default=True, help="Workload image.")
@click.option("--step", type=int, default=1, show_default=True,
              help="Replicas added per step.")
@click.option("--interval", type=DURATION, default="5s", show_default=True,
              help="fixed-interval: time from one raise to the observation (5s, 2m, 1h).")
@click.option("--wait-timeout", type=DURATION, default="60s", show_default=True,
              help="wait: longest wait for running == requested.")
@click.option("--poll", type=DURATION, default="2s", show_default=True,
              help="wait: time between observations while waiting.")
@click.option("--max-replicas", type=int, default=1000, show_default=True,
              callback=_positive_int, help="Stop after requesting this many replicas.")
@click.option("--duration", type=DURATION, default=None, help="Stop after this long.")
@click.option("--beyond", type=int, default=30, show_default=True,
              help="Steps to keep going after saturation is detected.")
@click.option("--saturation-steps", type=int, default=10, show_default=True,
              help="Steps without a new running high (while requested grows) that mean "
                   "saturation.")
@click.option("--saturation-window", type=DURATION, default="60s", show_default=True,
              help="Least time those steps must span.")
@click.option("--op-timeout", type=DURATION, default="120s", show_default=True,
              help="A cluster call longer than this ends the run (cluster-unresponsive).")
@click.option("--keep", is_flag=True, help="Leave the Deployment in place at the end.")
@click.option("-o", "--output", type=click.Path(dir_okay=True),
              help="run.csv path (a directory for several runs). Default runs/<name>.csv.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary on stdout.")
@click.option("-q", "--quiet", is_flag=True, help="No status line, no messages.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Simulator random seed (runs are deterministic per seed).")
@click.option("--cluster", "cluster_kind", type=click.Choice(["simulated", "openshift"]),
              default=None, help="Cluster to drive; simulated unless a real one is named "
                                 "(--cluster openshift, --kubeconfig or --context).")
@click.option("--kubeconfig", type=click.Path(), help="Kubeconfig of a real cluster.")
@click.option("--context", help="Kubeconfig context of a real cluster.")
@click.option("-n", "--namespace", default="scaler", show_default=True,
              help="Namespace the run works in (created if missing).")
@click.option("--client-binary", help="oc or kubectl (default: oc if on PATH, else kubectl).")
@click.option("--adopt", is_flag=True, help="Take over an existing Deployment this run did not "
                                            "create (scaled to 0 at the end, never deleted).")
@click.option("--runtime-class-manifest", type=click.Path(dir_okay=False),
              help="RuntimeClass YAML/JSON to create when the cluster lacks the one --runtime "
                   "names (cluster-scoped: needs the right to create RuntimeClasses).")
@click.option("--sim-profile", type=click.Path(), help="JSON/YAML file overriding simulator "
                                                        "parameters.")
@click.option("--workers", type=int, callback=_positive_int, help="Simulated workers (5).")
@click.option("--worker-cpus", type=int, callback=_positive_int,
              help="CPUs per simulated worker (8).")
@click.option("--worker-memory", type=SIZE_MIB, help="Memory per simulated worker (16Gi).")
@ssh_options
def run_cmd(**kw) -> None:
    """Scale the workload step by step and record what happens.

    \b
    Examples:
      scaler run --runtime kata --mode no-wait -o runs/kata.csv
      scaler run --runtime runc,kata -o runs/compare
      scaler run --cluster openshift --kubeconfig ~/.kube/config --runtime kata
    """
    # Library warnings (e.g. a node's SSH connection lost) as one line each, like ours.
    logging.basicConfig(level=logging.ERROR if kw["quiet"] else logging.WARNING,
                        format="scaler: %(message)s")
    named_real = kw["kubeconfig"] or kw["context"]
    kind = kw["cluster_kind"] or ("openshift" if named_real else "simulated")
    if kind == "simulated" and named_real:
        raise UserError("--kubeconfig/--context name a real cluster; drop --cluster simulated")
    choice = ClusterChoice(
        kind=kind, kubeconfig=kw["kubeconfig"], context=kw["context"],
        namespace=kw["namespace"], client_binary=kw["client_binary"], adopt=kw["adopt"],
        sim_profile=kw["sim_profile"], workers=kw["workers"], worker_cpus=kw["worker_cpus"],
        worker_memory_mib=kw["worker_memory"],
        runtime_class_manifests=_runtime_class_manifests(kw, kind),
    )
    if kw["step"] < 1:
        raise UserError(f"--step must be at least 1 (got {kw['step']})")
    ssh_opts, ssh_targets, sample_interval, collectors_on = ssh_settings_from(kw)
    ssh = _ssh_factory(ssh_opts, ssh_targets, sample_interval) if collectors_on else None
    runs = [(rt, sc) for sc in kw["scenario"] for rt in kw["runtime"]]
    configs = []
    for rt, sc in runs:
        try:
            configs.append(RunConfig(
                mode=kw["mode"], step=kw["step"], interval_s=kw["interval"],
                wait_timeout_s=kw["wait_timeout"], poll_s=kw["poll"],
                max_replicas=kw["max_replicas"], duration_s=kw["duration"],
                beyond=kw["beyond"], saturation_steps=kw["saturation_steps"],
                saturation_window_s=kw["saturation_window"], op_timeout_s=kw["op_timeout"],
                keep=kw["keep"], seed=kw["seed"], scenario=sc,
                workload=_workload(sc, rt, kw),
            ))
        except ValueError as e:
            raise UserError(str(e)) from None
    paths = _output_paths(kw["output"], runs, kw["mode"])
    quiet, as_json = kw["quiet"], kw["as_json"]
    show_status = not quiet and sys.stdout.isatty()
    results: list[tuple[Path, RunResult]] = []
    for cfg, path in zip(configs, paths, strict=True):
        res = _one_run(choice, cfg, path, quiet=quiet, show_status=show_status,
                       sample_interval_s=sample_interval, ssh=ssh)
        results.append((path, res))
        if not as_json:
            _say(quiet, _human_summary(res, path))
        if res.end_reason in (INTERRUPTED, TERMINATED):
            break
    comparison = None
    if len(results) > 1 and all(r.end_reason not in (INTERRUPTED, TERMINATED)
                                for _, r in results):
        comparison = _compare([p for p, _ in results], paths[0].parent / "compare", quiet)
    if as_json:
        out = [r.summary for _, r in results]
        payload = out[0] if len(out) == 1 else {"runs": out, "comparison": comparison}
        click.echo(json.dumps(payload, indent=2))
    worst = results[-1][1]
    if worst.end_reason in (INTERRUPTED, TERMINATED):
        sys.exit(130 if worst.end_reason == INTERRUPTED else 143)
    if any(r.end_reason in ("cluster-error", "crashed") for _, r in results):
        sys.exit(1)


def _runtime_class_manifests(kw: dict, kind: str) -> dict:
    """--runtime-class-manifest checked before anything starts: a real cluster, a RuntimeClass
    file, named as one of --runtime."""
    path = kw["runtime_class_manifest"]
    if not path:
        return {}
    if kind != "openshift":
        raise UserError("--runtime-class-manifest is for a real cluster (--cluster openshift)")
    from scaler.openshift.options import load_runtime_class_manifest

    try:
        doc = load_runtime_class_manifest(path)
    except ValueError as e:
        raise UserError(f"--runtime-class-manifest: {e}") from None
    name = doc["metadata"]["name"]
    if name not in kw["runtime"]:
        raise UserError(f"--runtime-class-manifest: {path} defines RuntimeClass {name}, but "
                        f"--runtime is {','.join(kw['runtime'])}")
    return {name: doc}


def _ssh_factory(options, explicit, interval_s: float):
    """Build SSH collectors for a real cluster: its discovered nodes (InternalIP) plus any
    --node given (a --node with a discovered name replaces that node's address)."""

    def build(info):
        from collectors.pool import CollectorPool
        from collectors.ssh_targets import NodeTarget

        by_name = {n.name: NodeTarget(n.name, n.address) for n in info.nodes if n.address}
        by_name.update({t.name: t for t in explicit})
        if not by_name:
            return None
        return CollectorPool(list(by_name.values()), options, interval_s=interval_s)

    return build


def _compare(paths: list[Path], out_dir: Path, quiet: bool) -> list[str] | None:
    from viz.compare import compare_runs

    try:
        # skip_unusable: a run that died before its first row is named in the comparison
        # instead of sinking the comparison of the runs that worked.
        written = compare_runs(paths, out_dir, formats=("html", "png"), skip_unusable=True)
    except ValueError as e:
        click.echo(f"scaler: comparison failed: {e}", err=True)
        return None
    _say(quiet, f"comparison: {out_dir}")
    return [str(p) for p in written]


def _add_subcommands() -> None:
    from scaler.cli_nodes import nodes
    from scaler.cli_sim import sim

    main.add_command(nodes)
    main.add_command(sim)


_add_subcommands()

if __name__ == "__main__":
    main()
