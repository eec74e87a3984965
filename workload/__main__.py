"""``python -m workload``: see workload.config for the interface.

BLAS thread pools are never used here (numpy only touches pages), and each idle thread
costs resident and virtual memory: pin them to one before numpy is imported, so the base
resident set is small and an address-space limit is spent on data.
"""

import os
import sys

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from workload.cli import main  # noqa: E402

sys.exit(main())
