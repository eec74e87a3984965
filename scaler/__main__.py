"""`python -m scaler` and the `scaler` console script.

The command line is imported inside ``main`` so that a Ctrl-C while Python is still loading it
ends the program quietly (exit 130), as it does once the command runs.
"""

from __future__ import annotations

import sys


def main() -> None:
    try:
        from scaler.cli import main as cli
    except KeyboardInterrupt:
        sys.stderr.write("scaler: interrupted\n")
        sys.exit(130)
    cli()


if __name__ == "__main__":
    main()
