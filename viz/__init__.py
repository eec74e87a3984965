"""Charts, analysis and comparison of scaler runs.

``viz`` reads run files only (run.csv, run.nodes.csv, run.meta.json, and the CSVs of the original
measurement scripts); it never imports the load generator, so old runs can be re-plotted anywhere.
"""
