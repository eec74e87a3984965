"""``python -m workload``, or ``python -I -S .../workload/__main__.py`` as the image runs it.

The image starts the interpreter isolated and without ``site`` (``-I -S``): no user or
environment paths, no site-packages scan, and none of the modules ``site`` imports, which
keeps about 2.5 MiB out of every pod's resident set. It runs this file by path rather than
with ``-m``, which would import runpy and os first (about 1 MiB more). Run by path, and
isolated, nothing puts the package's parent directory on ``sys.path``: that is done here.
"""

import sys

if not __package__:  # run as a file, not as ``-m workload``
    sys.path.insert(0, __file__.rsplit("/", 2)[0] or "/")

from workload.cli import main  # noqa: E402

sys.exit(main())
