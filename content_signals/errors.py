"""Errors a user can act on.

The CLI turns a :class:`SignalsError` into one line on stderr and a non-zero exit; anything else is
a bug and keeps its traceback.
"""


class SignalsError(Exception):
    """A failure caused by input or environment, with a message meant for the person who ran it."""


class GateFailed(SignalsError):
    """A partition failed its data-quality gate and was quarantined instead of published."""
