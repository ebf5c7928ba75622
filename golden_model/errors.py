"""Exceptions raised for bad input.

Every error a user can cause derives from :class:`ZskipError`, so the command
line can print its message without a traceback. The subclasses also derive
from the built-in exception a Python caller would expect (``ValueError`` for
bad values and shapes, ``RuntimeError`` for a missing dependency).
"""

import importlib

__all__ = ["ZskipError", "ConfigError", "ShapeError", "DataError", "MissingDependencyError", "require_module"]


class ZskipError(Exception):
    """Base class of the errors that come from the user's input or environment."""


class ConfigError(ZskipError, ValueError):
    """An invalid configuration value: a size, a threshold rule, an option."""


class ShapeError(ZskipError, ValueError):
    """An array argument with the wrong shape, dtype, or non-finite values."""


class DataError(ZskipError, ValueError):
    """A dataset that is unknown, malformed, or unusable for the task."""


class MissingDependencyError(ZskipError, RuntimeError):
    """A package or file the request needs is not installed.

    Parameters
    ----------
    what : str
        What is missing, e.g. ``"the Debian package dataset-fashion-mnist"``.
    install : str
        The one command that installs it.
    purpose : str
        What it is needed for.
    """

    def __init__(self, what, install, purpose):
        self.what = what
        self.install = install
        super().__init__(f"{purpose} needs {what}, which is not installed; install it with: {install}")


def require_module(name, what, install, purpose):
    """The module ``name``, imported; MissingDependencyError(``what``, ``install``, ``purpose``) when it is not
    installed."""
    try:
        return importlib.import_module(name)
    except ImportError:
        raise MissingDependencyError(what, install, purpose) from None
