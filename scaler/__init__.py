"""scaler: how many pods fit, under which runtime, and what each one costs in memory."""

__version__ = "0.1.0"
