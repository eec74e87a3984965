"""Entry point: resolve the settings, run, and turn bad input into one line and status 2."""

from __future__ import annotations

# posix is what os wraps on Linux; os itself would also import stat, posixpath and
# collections.abc: about 160 KiB more resident set in every pod.
import posix
import sys

from workload.config import HELP, HelpRequested, UsageError, WorkloadConfig, parse_config
from workload.stopper import Stopper

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (~2 MiB resident)
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    try:
        config = parse_config(sys.argv[1:] if argv is None else argv, _environ() if env is None else env)
        _check_report_path(config)
    except HelpRequested:
        sys.stdout.write(HELP)
        return 0
    except UsageError as exc:
        sys.stderr.write(f"workload: error: {exc}\n")
        return 2
    stopper = Stopper()
    try:
        from workload.runner import Runner  # the loop's modules only once the arguments are good

        return Runner(config).run(stopper)
    finally:
        stopper.close()


def _environ() -> dict[str, str]:
    """The environment as ``os.environ`` decodes it (file-system encoding, surrogateescape)."""
    encoding, errors = sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()
    return {k.decode(encoding, errors): v.decode(encoding, errors) for k, v in posix.environ.items()}


def _check_report_path(config: WorkloadConfig) -> None:
    path = config.report_path
    if path:
        if _is_dir(path):
            raise UsageError(f"report file {path} is a directory")
        head, slash, _ = path.rpartition("/")
        directory = head or slash or "."
        if not _is_dir(directory):
            raise UsageError(f"report directory {directory} does not exist")


def _is_dir(path: str) -> bool:
    try:
        return posix.stat(path).st_mode & 0o170000 == 0o040000  # S_ISDIR, without the stat module
    except (OSError, ValueError):
        return False
