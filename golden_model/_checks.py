"""Argument checks shared by the golden model: shapes, dtypes, finiteness, sizes."""

import math
import numbers

import numpy as np

from .errors import ConfigError, ShapeError

__all__ = ["check_size", "check_array", "check_dtype", "check_finite_scalar"]


def check_size(name, value, *, minimum=1):
    """Return ``value`` as an int if it is an integer >= ``minimum``, else raise ConfigError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, not {value!r}")
    return int(value)


def check_dtype(dtype):
    """Return the numpy float dtype for ``dtype`` (float32 or float64)."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise ConfigError(f"dtype must be float32 or float64, not {dtype!r}") from None
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ConfigError(f"dtype must be float32 or float64, not {dt.name}")
    return dt


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
