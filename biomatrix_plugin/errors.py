"""The one error base of the package.

Every mistake a user can make (a bad card, a missing file, an input that cannot be parsed, an option that
cannot work) raises a subclass of :class:`BioMatrixError`. ``biomatrix_plugin.cli.main`` catches the base,
prints ``error: <message>`` and exits with :data:`USER_ERROR_EXIT`; anything else is a bug and keeps its
traceback. Subclasses also derive from the builtin that describes them (``ValueError``, ``OSError``, ...)
so code written against the builtin keeps working.
"""

from __future__ import annotations

USER_ERROR_EXIT = 2


def short_repr(value: object, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters: how an error message quotes a bad value."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class BioMatrixError(Exception):
    """A user's mistake or an unusable input; the message names the file/record and the reason."""

    exit_code = USER_ERROR_EXIT


class InputFileError(BioMatrixError, OSError):
    """An input file is missing, unreadable, truncated or not in the format its name says."""


class ConfigError(BioMatrixError, ValueError):
    """A configuration (card, recipe, option combination, missing checkpoint) that cannot work."""
