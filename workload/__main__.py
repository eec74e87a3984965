"""``python -m workload``: see workload.config for the interface.

Two numpy defaults are changed before numpy is imported (users can still override them in
the environment):

- BLAS thread pools are never used here (numpy only touches pages), and each idle thread
  costs resident and virtual memory: one thread, so the base resident set is small and an
  address-space limit is spent on data.
- numpy asks for transparent huge pages (``madvise``) for arrays of 4 MiB and more; the C
  program this replaces does not. ``NUMPY_MADVISE_HUGEPAGE=0`` leaves the page size to the
  node's own policy, which is what a density experiment should measure.
"""

import os
import sys

for _var, _value in (
    ("OPENBLAS_NUM_THREADS", "1"),
    ("OMP_NUM_THREADS", "1"),
    ("MKL_NUM_THREADS", "1"),
    ("NUMPY_MADVISE_HUGEPAGE", "0"),
):
    os.environ.setdefault(_var, _value)

from workload.cli import main  # noqa: E402

sys.exit(main())
