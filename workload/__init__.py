"""The calibrated workload every pod runs: ``python -m workload <cpu%> [MB] [incrementMB]``.

It burns a given percent of one CPU writing to memory pages (the work it reports, in 4 KiB
pages touched per second) and holds a given resident set, every page kept active, so that a
node's memory and CPU accounting see exactly what the experiment asked for.

Every pod pays for what this program imports, so it imports only the standard library's
built-in and smallest modules (no numpy, argparse, dataclasses, typing, json, os or signal):
about 9 MiB resident, most of it the interpreter itself.
"""
