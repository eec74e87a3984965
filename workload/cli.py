"""Entry point: resolve the settings, run, and turn bad input into one line and status 2."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence

from workload.config import UsageError, WorkloadConfig, parse_config
from workload.stopper import Stopper


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    try:
        config = parse_config(sys.argv[1:] if argv is None else argv, os.environ if env is None else env)
        _check_report_dir(config)
    except UsageError as exc:
        print(f"workload: error: {exc}", file=sys.stderr)
        return 2
    # Signals are caught from here on, before the slow numpy import: a SIGTERM that comes
    # early still ends the run with status 0 and a last report line.
    stopper = Stopper()
    try:
        from workload.runner import Runner  # numpy only once the arguments are known good

        return Runner(config).run(stopper)
    finally:
        stopper.close()


def _check_report_dir(config: WorkloadConfig) -> None:
    if config.report_path:
        directory = os.path.dirname(os.path.abspath(config.report_path))
        if not os.path.isdir(directory):
            raise UsageError(f"report directory {directory} does not exist")
