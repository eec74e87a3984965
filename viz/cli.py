"""The `viz` command: plot, report and compare runs from their files.

Bad input of any kind ends with one line on stderr and exit code 2, never a traceback: the user
is usually pointing at the wrong file, and a stack trace hides the one thing they need to read.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from viz.analysis import DEFAULT_FREE_THRESHOLD_MIB
from viz.errors import VizInputError
from viz.export import parse_formats

FORMAT_HELP = "Comma list of html, png, svg."


def _fail(message: str) -> None:
    click.echo(f"viz: error: {message}", err=True)
    sys.exit(2)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Charts, analysis and comparison of scaler runs (and of the original method's CSVs).

    \b
    Examples:
      viz plot runs/kata.csv -o charts --format html,png,svg
      viz report runs/kata.csv --json
      viz compare runs/runc.csv runs/kata.csv -o compare
      viz compare runs/matrix            (every run CSV in the directory)
    """


# Options several commands share, spelled once so they cannot drift apart.
free_threshold_option = click.option(
    "--free-threshold",
    type=float,
    default=DEFAULT_FREE_THRESHOLD_MIB,
    show_default=True,
    help="Free-memory threshold, MiB.",
)
formats_option = click.option(
    "--format", "formats", default="html,png", show_default=True, help=FORMAT_HELP
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
    """Draw every chart of RUN_CSV: one HTML report and one image per chart."""
    from viz.plot import plot_run

    for path in plot_run(run_csv, out_dir, parse_formats(formats), free_threshold):
        click.echo(str(path))


@cli.command()
@click.argument("run_csv", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@free_threshold_option
def report(run_csv: Path, as_json: bool, free_threshold: float) -> None:
    """Print the figures of RUN_CSV, each with how it was computed."""
    from viz.read import load_run
    from viz.report import analyse_run, format_text

    result = analyse_run(load_run(run_csv), free_threshold)
    click.echo(json.dumps(result.to_dict(), indent=2) if as_json else format_text(result))


@cli.command()
@click.argument("run_csvs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    "out_dir",
    type=click.Path(path_type=Path),
    default=Path("."),
    show_default=True,
    help="Directory for the comparison files.",
)
@formats_option
@free_threshold_option
def compare(run_csvs: tuple[Path, ...], out_dir: Path, formats: str, free_threshold: float) -> None:
    """Overlay runs and tabulate their figures side by side, with overhead ratios.

    RUN_CSVS are run files or directories of them. Ratios are taken against the first runc run
    (else the first run).
    """
    from viz.compare import Comparison

    fmts = parse_formats(formats)
    comparison = Comparison.build(list(run_csvs), free_threshold)
    click.echo(comparison.text())
    for path in comparison.write(out_dir, fmts):
        click.echo(str(path))


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
    except click.exceptions.Abort:
        _fail("aborted")
    except KeyboardInterrupt:
        _fail("interrupted")
    except BrokenPipeError:
        sys.exit(1)
    sys.exit(0)


if __name__ == "__main__":
    main()
