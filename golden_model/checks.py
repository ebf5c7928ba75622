"""Argument checks, one per concept, for every package: sizes, ranges, shapes, dtypes, finiteness.

A bad value raises ConfigError (a bad array ShapeError), naming the parameter and the value in the
form "lanes must be an integer >= 1, not 0"; a wrong kind of object (a configuration that is not an
EngineConfig) is a TypeError, raised by golden_model.engine_config.check_config.
"""

import dataclasses
import math
import numbers

from pathlib import Path

import numpy as np

from .errors import ConfigError, ShapeError

__all__ = ["check_size", "check_range", "check_known", "check_file", "check_array", "check_dtype", "check_finite_scalar"]


def check_size(name, value, *, minimum=1):
    """Return ``value`` as an int if it is an integer >= ``minimum``, else raise ConfigError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, not {value!r}")
    return int(value)


def check_range(name, value, low, high, *, what="a number"):
    """Return ``value`` as a float if it is a real number in [``low``, ``high``], else raise ConfigError
    saying that ``name`` must be ``what`` ("a probability", "a voltage") in that range."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not low <= value <= high:
        raise ConfigError(f"{name} must be {what} in [{low:g}, {high:g}], not {value!r}")
    return float(value)


def check_known(what, options, cls):
    """ConfigError unless every key of ``options`` names a field of the dataclass ``cls``; ``what`` says
    what the options are ("engine option", "training option")."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(options) - names
    if unknown:
        raise ConfigError(f"unknown {what}(s): {', '.join(sorted(unknown))}; known: {', '.join(sorted(names))}")
    return options


def check_file(path, what, error=ConfigError, hint=""):
    """``path`` as a Path if it names an existing file, else ``error`` saying "``what`` ``path`` does not exist"
    (and ``hint``)."""
    path = Path(path)
    if not path.is_file():
        raise error(f"{what} {path} does not exist{hint}")
    return path


def check_dtype(dtype):
    """Return the numpy float dtype for ``dtype`` (float32 or float64: the dtype, its type or its name)."""
    for dt in (np.dtype(np.float32), np.dtype(np.float64)):
        if dtype is dt.type or (isinstance(dtype, np.dtype) and dtype == dt) \
                or (isinstance(dtype, str) and dtype == dt.name):
            return dt
    raise ConfigError(f"dtype must be float32 or float64, not {getattr(dtype, '__name__', dtype)!r}")


def _fmt(shape):
    return "(" + ", ".join("?" if s is None else str(s) for s in shape) + ")"


def check_array(name, a, shape, dtype=None, *, finite=True):
    """Check that ``a`` is a real array of ``shape`` (``None`` matches any length).

    Returns the array converted to ``dtype`` (no copy when it already is).
    Raises ShapeError naming ``name``, the expected and the actual shape, or the
    position of the first NaN/Inf.
    """
    if not isinstance(a, np.ndarray):
        try:
            a = np.asarray(a)
        except Exception:
            raise ShapeError(f"{name} must be an array of shape {_fmt(shape)}, not {type(a).__name__}") from None
    if a.dtype.kind not in "fiub":
        raise ShapeError(f"{name} must hold real numbers, not dtype {a.dtype}")
    if a.ndim != len(shape) or any(s is not None and s != n for s, n in zip(shape, a.shape)):
        raise ShapeError(f"{name} must have shape {_fmt(shape)}, got {tuple(a.shape)}")
    if dtype is not None:
        a = a.astype(dtype, copy=False)
    if finite and a.dtype.kind == "f" and not np.isfinite(a).all():
        where = tuple(int(i) for i in np.argwhere(~np.isfinite(a))[0])
        raise ShapeError(f"{name} holds a non-finite value ({a[where]}) at index {where}")
    return a


def check_finite_scalar(name, value, *, minimum=None):
    """Return ``value`` as a float if finite (and >= ``minimum``), else raise ConfigError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(f"{name} must be a real number, not {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ConfigError(f"{name} must be finite, not {value!r}")
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, not {value!r}")
    return value
