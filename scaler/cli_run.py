"""`scaler run`: its options, parsed and checked into a ``RunRequest`` (typed values, nothing
built), then handed to ``scaler.session``. Only click, the units and the scenario names are
imported here, so ``scaler run --help`` stays quick."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click
from click.core import ParameterSource

from scaler.errors import UserError
from scaler.ssh_options import ssh_options, ssh_settings_from
from scaler.units import DURATION, SIZE_MIB
from scaler.workload_spec import DEFAULT_IMAGE, DEFAULT_RUNTIME, SCENARIOS, normalise_runtime

if TYPE_CHECKING:
    from scaler.request import RunRequest


def _mode(ctx: click.Context, param: click.Parameter, value: str) -> str:
    from scaler.config import normalise_mode

    try:
        return normalise_mode(value)
    except ValueError as e:
        raise click.BadParameter(str(e), ctx, param) from None


def _items(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> list[str]:
    """Every value of a list option: comma lists, and the option given several times (each
    occurrence adds to the list; none is silently dropped)."""
    items = [v.strip() for value in values for v in str(value).split(",") if v.strip()]
    if not items:
        raise click.BadParameter("empty list", ctx, param)
    return items


def _runtimes(ctx: click.Context, param: click.Parameter,
              values: tuple[str, ...]) -> tuple[str, ...]:
    from scaler.kube_names import dns_subdomain_problem

    out = []
    for name in _items(ctx, param, values):
        problem = dns_subdomain_problem(name)
        if problem:
            raise click.BadParameter(f"runtime {problem}", ctx, param)
        out.append(normalise_runtime(name))
    return tuple(dict.fromkeys(out))


def _scenarios(ctx: click.Context, param: click.Parameter,
               values: tuple[str, ...]) -> tuple[str, ...]:
    items = _items(ctx, param, values)
    for s in items:
        if s not in SCENARIOS:
            raise click.BadParameter(
                f"unknown scenario {s!r} (choose from {', '.join(SCENARIOS)})", ctx, param)
    return tuple(dict.fromkeys(items))


def _cpus(ctx: click.Context, param: click.Parameter,
          values: tuple[str, ...]) -> tuple[float, ...]:
    """--cpu: percents, a comma list or the option repeated (none: the scenario's own)."""
    if not values:
        return ()
    out = []
    for item in _items(ctx, param, values):
        try:
            out.append(float(item.rstrip("%")))
        except ValueError:
            raise click.BadParameter(f"{item!r} is not a percent (e.g. 50, or 10,50,100)",
                                     ctx, param) from None
    return tuple(dict.fromkeys(out))


def _positive_int(ctx: click.Context, param: click.Parameter, value: int | None) -> int | None:
    if value is not None and value < 1:
        raise click.BadParameter(f"must be at least 1 (got {value})", ctx, param)
    return value


def _replaced_by(new: str) -> Callable[[click.Context, click.Parameter, object], None]:
    """A retired option: one line saying what replaced it."""

    def refuse(ctx: click.Context, param: click.Parameter, value: object) -> None:
        if value is not None:
            raise click.BadParameter(
                f"replaced by {new}: the run now stops when the cluster has stopped gaining "
                "(no new running maximum over a window that grows with the run)", ctx, param)

    return refuse


def _mib(value: float | None) -> int | None:
    return None if value is None else int(round(value))


@click.command("run")
@click.option("--runtime", multiple=True, default=[DEFAULT_RUNTIME], show_default=True,
              callback=_runtimes,
              help="default (the cluster's default runtime; runc means the same), kata, or any "
                   "RuntimeClass; a comma list (or the option repeated) runs each in turn and "
                   "compares them.")
@click.option("--mode", default="fixed-interval", show_default=True, callback=_mode,
              help="fixed-interval (or fixed) | wait | no-wait.")
@click.option("--scenario", multiple=True, default=["capacity"], show_default=True,
              callback=_scenarios,
              help=f"{' | '.join(SCENARIOS)}; a comma list (or the option repeated) runs each in "
                   "turn.")
@click.option("--cpu", multiple=True, callback=_cpus,
              help="Workload CPU percent of one CPU (scenario default: 5, cpu: 50); a comma list "
                   "(or the option repeated) runs each, named by its percent "
                   "(e.g. default-cpu10, default-cpu50).")
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
@click.option("--beyond", type=int, default=0, show_default=True,
              help="Steps to keep going once the cluster has stopped gaining.")
@click.option("--stop-steps", type=int, default=30, show_default=True,
              help="Stop rule: the fewest steps without a new running maximum that mean the "
                   "cluster has stopped gaining (the window also grows with the run).")
@click.option("--stop-window", type=DURATION, default="60s", show_default=True,
              help="Stop rule: the least time those steps must span.")
@click.option("--stop-fraction", type=click.FloatRange(0, 1, max_open=True), default=2 / 3,
              show_default="2/3",
              help="Stop rule: the window is at least this share of the run so far.")
@click.option("--saturation-steps", hidden=True, callback=_replaced_by("--stop-steps"))
@click.option("--saturation-window", hidden=True, callback=_replaced_by("--stop-window"))
@click.option("--op-timeout", type=DURATION, default="120s", show_default=True,
              help="A cluster call longer than this ends the run (cluster-unresponsive).")
@click.option("--keep", is_flag=True, help="Leave the Deployment in place at the end.")
@click.option("-o", "--output", type=click.Path(dir_okay=True),
              help="run.csv path (a directory for several runs). Default runs/<name>.csv.")
@click.option("--force", is_flag=True,
              help="Overwrite the files of an earlier run at the same --output.")
@click.option("--repeat", type=int, default=None, callback=_positive_int,
              help="Run each configuration this many times into one directory, as "
                   "<runtime>-<scenario>-r<k>.csv (simulated: seeds --seed, --seed+1, ...).")
@click.option("--settle", type=DURATION, default="30s", show_default=True,
              help="Real cluster: wait this long between one run's clean-up and the next.")
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
@click.option("--node-source", type=click.Choice(["auto", "ssh", "kubelet", "both"]),
              default="auto", show_default=True,
              help="Real cluster: where node and pod figures come from. ssh: the nodes "
                   "themselves; kubelet: the kubelet's stats through the API server (no SSH "
                   "needed; every 10s unless --sample-interval); both: both, recorded side by "
                   "side, their disagreement reported; auto: ssh if a node answers, else kubelet, "
                   "else none. The simulator samples its own nodes.")
@ssh_options
def run_cmd(**kw: Any) -> None:
    """Scale the workload step by step and record what happens.

    \b
    Examples:
      scaler run --runtime kata --mode no-wait -o runs/kata.csv
      scaler run --runtime runc,kata -o runs/compare
      scaler run --cluster openshift --kubeconfig ~/.kube/config --runtime kata
    """
    ctx = click.get_current_context()
    given = {name for name in ("sample_interval", "pod_interval", "node_source")
             if ctx.get_parameter_source(name) not in (None, ParameterSource.DEFAULT)}
    request = run_request(kw, given)
    from scaler.session import run_session

    code = run_session(request)
    if code:
        sys.exit(code)


def _runtime_class_manifests(kw: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    """--runtime-class-manifest checked before anything starts: a real cluster, a RuntimeClass
    file, named as one of --runtime."""
    path = kw.get("runtime_class_manifest")
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


def run_request(kw: dict[str, Any], given: frozenset[str] | set[str] = frozenset()) -> RunRequest:
    """The parsed options of `scaler run` as a checked request; ``given``: the options the user
    set (on the command line or in the environment) rather than left at their default."""
    from scaler.config import RunConfig, limit_problem
    from scaler.request import ClusterChoice, CollectorChoice, RunRequest, WorkloadOverrides

    named_real = kw["kubeconfig"] or kw["context"]
    kind = kw["cluster_kind"] or ("openshift" if named_real else "simulated")
    if kind == "simulated" and named_real:
        raise UserError("--kubeconfig/--context name a real cluster; drop --cluster simulated")
    ssh, targets, interval, enabled = ssh_settings_from(kw)
    if kind == "simulated" and "node_source" in given and kw["node_source"] != "auto":
        raise UserError(f"--node-source {kw['node_source']} is for a real cluster: the simulator "
                        "samples its own nodes")
    try:
        cluster = ClusterChoice(
            kind=kind, kubeconfig=kw["kubeconfig"], context=kw["context"],
            namespace=kw["namespace"], client_binary=kw["client_binary"], adopt=kw["adopt"],
            sim_profile=kw["sim_profile"], workers=kw["workers"], worker_cpus=kw["worker_cpus"],
            worker_memory_mib=_mib(kw["worker_memory"]),
            runtime_class_manifests=_runtime_class_manifests(kw, kind),
        )
        config = RunConfig(
            mode=kw["mode"], step=kw["step"], interval_s=kw["interval"],
            wait_timeout_s=kw["wait_timeout"], poll_s=kw["poll"],
            max_replicas=kw["max_replicas"], duration_s=kw["duration"],
            beyond=kw["beyond"], stop_steps=kw["stop_steps"], stop_window_s=kw["stop_window"],
            stop_fraction=kw["stop_fraction"], op_timeout_s=kw["op_timeout"],
            keep=kw["keep"], seed=kw["seed"],
        )
    except ValueError as e:
        raise UserError(str(e)) from None
    for option, value, unit in (("--repeat", kw["repeat"], ""), ("--settle", kw["settle"], "s")):
        problem = limit_problem(option, value, unit=unit)
        if problem:
            raise UserError(problem)
    workload = WorkloadOverrides(
        memory_mib=_mib(kw["memory"]),
        increment_mib=_mib(kw["increment"]), request_mib=_mib(kw["request"]),
        limit_mib=_mib(kw["limit"]), image=kw["image"],
    )
    return RunRequest(
        runtimes=kw["runtime"], scenarios=kw["scenario"], cpus=kw["cpu"], config=config,
        workload=workload,
        cluster=cluster,
        collectors=CollectorChoice(ssh, tuple(targets), interval, enabled, kw["node_source"],
                                   "sample_interval" in given, "pod_interval" in given),
        output=kw["output"], force=kw["force"], repeat=kw["repeat"], settle_s=kw["settle"],
        as_json=kw["as_json"], quiet=kw["quiet"],
    )
