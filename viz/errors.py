"""The one error type the CLI turns into a single stderr line and exit code 2."""


class VizInputError(ValueError):
    """Bad input: a file that is missing, empty, not a CSV, or lacks the columns a run needs.

    The message is complete on its own (it names the file and the problem) because the CLI prints
    it as the only line the user sees.
    """
