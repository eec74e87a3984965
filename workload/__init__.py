"""The calibrated workload every pod runs: ``python -m workload <cpu%> [MB] [incrementMB]``.

It burns a given percent of one CPU and holds a given resident set, every page kept active,
so that a node's memory and CPU accounting see exactly what the experiment asked for.
"""
