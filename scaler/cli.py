"""`scaler` command line. `scaler run` parses and checks its options into a ``RunRequest``
(typed values, nothing built) and hands it to ``scaler.session``.

Errors a user can cause (bad option, unreadable file, unreachable cluster) are one line on stderr
and exit code 2, whichever command raised them (``scaler.errors.UserError``, or click's own usage
errors); a traceback means a bug in scaler. Nothing heavy is imported here, so ``--help`` is quick.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import click

from scaler import __version__
from scaler.config import RunConfig, normalise_mode
from scaler.errors import USER_ERROR_EXIT, UserError
from scaler.request import ClusterChoice, CollectorChoice, RunRequest, WorkloadOverrides
from scaler.ssh_options import ssh_options, ssh_settings_from
from scaler.units import DURATION, SIZE_MIB
from scaler.workload_spec import DEFAULT_IMAGE, SCENARIOS


class ScalerGroup(click.Group):
    """Prints every user error as one line (``scaler: error: ...``), exit 2, no usage dump."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,  # type: ignore[override]
             complete_var: str | None = None, standalone_mode: bool = True,
             **extra: Any) -> Any:
        name = prog_name or self.name or "scaler"
        try:
            rv = super().main(args=args, prog_name=name, complete_var=complete_var,
                              standalone_mode=False, **extra)
        except click.exceptions.Exit as e:
            rv = e.exit_code
        except (click.exceptions.Abort, KeyboardInterrupt):
            click.echo(f"{name}: interrupted", err=True)
            rv = 130
        except UserError as e:
            click.echo(f"{name}: error: {e}", err=True)
            rv = e.exit_code
        except click.ClickException as e:
            msg = e.format_message()
            if isinstance(e, click.UsageError) and e.ctx is not None and not isinstance(
                e, click.BadParameter
            ):
                msg = f"{msg} (see '{e.ctx.command_path} --help')"
            click.echo(f"{name}: error: {msg}", err=True)
            rv = USER_ERROR_EXIT if isinstance(e, click.UsageError) else e.exit_code
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


def _mode(ctx: click.Context, param: click.Parameter, value: str) -> str:
    try:
        return normalise_mode(value)
    except ValueError as e:
        raise click.BadParameter(str(e), ctx, param) from None


def _split(ctx: click.Context, param: click.Parameter, value: str) -> tuple[str, ...]:
    items = [v.strip() for v in str(value).split(",") if v.strip()]
    if not items:
        raise click.BadParameter("empty list", ctx, param)
    if param.name == "scenario":
        for s in items:
            if s not in SCENARIOS:
                raise click.BadParameter(
                    f"unknown scenario {s!r} (choose from {', '.join(SCENARIOS)})", ctx, param)
    return tuple(dict.fromkeys(items))


def _positive_int(ctx: click.Context, param: click.Parameter, value: int | None) -> int | None:
    if value is not None and value < 1:
        raise click.BadParameter(f"must be at least 1 (got {value})", ctx, param)
    return value


def _mib(value: float | None) -> int | None:
    return None if value is None else int(round(value))


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
@click.option("--adopt", is_flag=True, help="Take over an existing Deployment scaler did not "
                                            "create.")
@click.option("--sim-profile", type=click.Path(), help="JSON/YAML file overriding simulator "
                                                        "parameters.")
@click.option("--workers", type=int, callback=_positive_int, help="Simulated workers (5).")
@click.option("--worker-cpus", type=int, callback=_positive_int,
              help="CPUs per simulated worker (8).")
@click.option("--worker-memory", type=SIZE_MIB, help="Memory per simulated worker (16Gi).")
@ssh_options
def run_cmd(**kw: Any) -> None:
    """Scale the workload step by step and record what happens.

    \b
    Examples:
      scaler run --runtime kata --mode no-wait -o runs/kata.csv
      scaler run --runtime runc,kata -o runs/compare
      scaler run --cluster openshift --kubeconfig ~/.kube/config --runtime kata
    """
    request = run_request(kw)
    from scaler.session import run_session

    code = run_session(request)
    if code:
        sys.exit(code)


def run_request(kw: dict[str, Any]) -> RunRequest:
    """The parsed options of `scaler run` as a checked request."""
    named_real = kw["kubeconfig"] or kw["context"]
    kind = kw["cluster_kind"] or ("openshift" if named_real else "simulated")
    if kind == "simulated" and named_real:
        raise UserError("--kubeconfig/--context name a real cluster; drop --cluster simulated")
    cluster = ClusterChoice(
        kind=kind, kubeconfig=kw["kubeconfig"], context=kw["context"],
        namespace=kw["namespace"], client_binary=kw["client_binary"], adopt=kw["adopt"],
        sim_profile=kw["sim_profile"], workers=kw["workers"], worker_cpus=kw["worker_cpus"],
        worker_memory_mib=_mib(kw["worker_memory"]),
    )
    ssh, targets, interval, enabled = ssh_settings_from(kw)
    try:
        config = RunConfig(
            mode=kw["mode"], step=kw["step"], interval_s=kw["interval"],
            wait_timeout_s=kw["wait_timeout"], poll_s=kw["poll"],
            max_replicas=kw["max_replicas"], duration_s=kw["duration"],
            beyond=kw["beyond"], saturation_steps=kw["saturation_steps"],
            saturation_window_s=kw["saturation_window"], op_timeout_s=kw["op_timeout"],
            keep=kw["keep"], seed=kw["seed"],
        )
    except ValueError as e:
        raise UserError(str(e)) from None
    workload = WorkloadOverrides(
        cpu_percent=kw["cpu"], memory_mib=_mib(kw["memory"]),
        increment_mib=_mib(kw["increment"]), request_mib=_mib(kw["request"]),
        limit_mib=_mib(kw["limit"]), image=kw["image"],
    )
    return RunRequest(
        runtimes=kw["runtime"], scenarios=kw["scenario"], config=config, workload=workload,
        cluster=cluster, collectors=CollectorChoice(ssh, tuple(targets), interval, enabled),
        output=kw["output"], as_json=kw["as_json"], quiet=kw["quiet"],
    )


def _add_subcommands() -> None:
    from scaler.cli_nodes import nodes
    from scaler.cli_sim import sim

    main.add_command(nodes)
    main.add_command(sim)


_add_subcommands()

if __name__ == "__main__":
    main()
