"""The `viz` command: plot, report and compare runs from their files.

Bad input of any kind ends with one line on stderr and exit code 2, never a traceback: the user
is usually pointing at the wrong file, and a stack trace hides the one thing they need to read.
numpy, polars and Altair are imported inside the commands, so `viz --help` starts at once.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import click

from viz.errors import VizInputError
from viz.options import DEFAULT_FORMATS, DEFAULT_FREE_THRESHOLD_MIB, parse_formats

FORMAT_HELP = "Comma list of html, png, svg (images only when asked: they take a while)."


def _fail(message: str) -> None:
    click.echo(f"viz: error: {message}", err=True)
    sys.exit(2)


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("scaler")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(f"viz {_version()}")
        ctx.exit(0)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--version", is_flag=True, expose_value=False, is_eager=True, callback=_print_version,
    help="Show the version and exit.",
)  # fmt: skip
def cli() -> None:
    """Charts, analysis and comparison of scaler runs (and of the original method's CSVs).

    \b
    Examples:
      viz plot runs/kata.csv -o charts --format html,png,svg
      viz report runs/kata.csv --json
      viz report runs/repeats             (each group of repeats: median and spread)
      viz compare runs/runc.csv runs/kata.csv -o compare
      viz compare runs/matrix            (every run CSV in the directory)
      viz compare runs/kata.csv --reference c3d-2021/kata
    """


def _positive_mib(_ctx: click.Context, _param: click.Parameter, value: float) -> float:
    if not math.isfinite(value) or value <= 0:
        raise click.BadParameter(f"{value:g} is not a positive number of MiB")
    return value


# Options several commands share, spelled once so they cannot drift apart.
free_threshold_option = click.option(
    "--free-threshold",
    type=float,
    callback=_positive_mib,
    default=DEFAULT_FREE_THRESHOLD_MIB,
    show_default=True,
    help="Free-memory threshold, MiB (> 0).",
)
formats_option = click.option(
    "--format", "formats", default=",".join(DEFAULT_FORMATS), show_default=True, help=FORMAT_HELP
)


@cli.command()
@click.argument("run_csv", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    "out_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Directory for the files [default: beside the run].",
)
@formats_option
@free_threshold_option
def plot(run_csv: Path, out_dir: Path | None, formats: str, free_threshold: float) -> None:
    """Draw every chart of RUN_CSV: one HTML report, and one image per chart if asked."""
    fmts = parse_formats(formats)
    from viz.plot import plot_run

    for path in plot_run(run_csv, out_dir, fmts, free_threshold):
        click.echo(str(path))


@cli.command()
@click.argument("runs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@free_threshold_option
def report(runs: tuple[Path, ...], as_json: bool, free_threshold: float) -> None:
    """Print the figures of RUNS, each with how it was computed.

    RUNS are run CSVs or directories of them. Repeats of one configuration (`scaler run
    --repeat N`) are reported together: median, min-max and, from 5 runs, a 95% confidence
    interval of the mean.
    """
    from viz.summary import report_runs

    click.echo(report_runs(list(runs), free_threshold, as_json))


@cli.command()
@click.argument("run_csvs", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--reference", "references", multiple=True, metavar="NAME",
    help="A published run to put beside yours, e.g. c3d-2021/kata (repeatable).",
)  # fmt: skip
@click.option(
    "--baseline", default=None, metavar="RUNTIME",
    help="Runtime the others are compared with [default: the cluster default: "
    "'default', or 'runc' in older files].",
)  # fmt: skip
@click.option(
    "-o",
    "--output",
    "out_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Directory for the comparison files [default: a folder named after the runs, beside "
    "the first one].",
)
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
@formats_option
@free_threshold_option
def compare(
    run_csvs: tuple[Path, ...],
    references: tuple[str, ...],
    baseline: str | None,
    out_dir: Path | None,
    as_json: bool,
    formats: str,
    free_threshold: float,
) -> None:
    """Overlay runs and tabulate their figures side by side, with overhead ratios.

    RUN_CSVS are run files or directories of them; repeats of one configuration are grouped
    (median and spread). Ratios: each runtime against the baseline runtime within the same
    scenario and workload; each scenario against the first within the same runtime; a
    simulated run against a measured one (or a published reference) of the same runtime.
    """
    fmts = parse_formats(formats)
    from viz.compare import Comparison

    comparison = Comparison.build(
        list(run_csvs), free_threshold, references=list(references), baseline=baseline
    )
    click.echo(json.dumps(comparison.to_dict(), indent=2) if as_json else comparison.text())
    for path in comparison.write(out_dir, fmts):
        click.echo(str(path), err=as_json)


def main(argv: list[str] | None = None) -> None:
    """Entry point: click's own usage errors are also reduced to one line, exit code 2."""
    try:
        cli.main(args=argv, prog_name="viz", standalone_mode=False)
    except VizInputError as err:
        _fail(str(err))
    except click.exceptions.NoArgsIsHelpError as err:
        click.echo(err.ctx.get_help() if err.ctx else str(err))
        sys.exit(2)
    except click.UsageError as err:
        _fail(err.format_message().replace("\n", " "))
    except click.ClickException as err:
        _fail(err.format_message().replace("\n", " "))
    except click.exceptions.Exit as err:
        sys.exit(err.exit_code)
    except click.exceptions.Abort:
        _fail("aborted")
    except KeyboardInterrupt:
        _fail("interrupted")
    except BrokenPipeError:
        sys.exit(1)
    sys.exit(0)


if __name__ == "__main__":
    main()
