"""The one way a `scaler` command reports a user error.

Anything the user can cause (a bad option, an unreadable file, an unreachable cluster, a run that
would overwrite earlier results) raises ``UserError``; the command group prints its message as
one line on stderr (``scaler: error: ...``) and exits 2. A traceback means a bug in scaler.

It is a ``click.ClickException``, so a command invoked on its own (outside the ``scaler`` group)
still ends with one line and exit code 2.
"""

from __future__ import annotations

import click

USER_ERROR_EXIT = 2
# A run the cluster ended (cluster-unresponsive, cluster-error): not the user's input, not a bug
# in scaler (1, a traceback), not a signal (130/143).
CLUSTER_FAILURE_EXIT = 3


class UserError(click.ClickException):
    """A problem with what the user asked for; the message is one line, for users."""

    exit_code = USER_ERROR_EXIT
