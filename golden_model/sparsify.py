"""Sparsified SGD: the threshold applied to the linear gate gradients dz.

``sparsify(dz, tau)`` sets every entry with ``|dz| < tau`` to zero (entries with
``|dz| == tau`` are kept). Which tau to use is decided by a *threshold rule*:

``static:TAU``
    The paper's rule: the same tau for every step (``dense`` is ``static:0``).
``sparsity:S[,smooth=A]``
    Target sparsity. tau is the S-quantile of the raw |dz| (before thresholding)
    of the *previous* training step (estimated from a fixed random sample of
    at most 65,536 entries), optionally smoothed in the log domain
    (``log tau <- A log tau + (1-A) log q``). The lag of one step is deliberate:
    the engine receives tau as a register before a backward pass starts, so a
    rule that needs the pass's own dz could not run on the hardware.
``rms:K[,decay=D]``
    Relative threshold. tau = K times a running RMS of the raw dz, an
    exponential moving average with decay D (default 0.9) of each step's mean
    dz**2. Scale-free like the target-sparsity rule, and cheaper: it needs one
    sum of squares, not a quantile.

The adaptive rules have seen no dz before the first step, so that step runs
dense (tau = 0) and calibrates them.
"""

import math

import numpy as np

from .errors import ConfigError

__all__ = ["sparsify", "ThresholdRule", "StaticThreshold", "TargetSparsity", "RelativeRMS",
           "parse_threshold", "THRESHOLD_HELP"]

THRESHOLD_HELP = ("static:TAU (TAU >= 0; 'dense' = static:0), sparsity:S[,smooth=A] "
                  "(0 <= S < 1, 0 <= A < 1), or rms:K[,decay=D] (K >= 0, 0 <= D < 1)")


def sparsify(dz, tau):
    """Zero, in place, the entries of ``dz`` whose magnitude is below ``tau``; return ``dz``."""
    if tau > 0:
        dz[np.abs(dz) < tau] = 0
    return dz


class ThresholdRule:
    """Decides tau for each backward pass. ``tau`` is the value for the next pass."""

    #: Whether ``observe`` needs the raw dz arrays (``backward(..., record=True)``).
    needs_dz = False

    def __init__(self):
        self.tau = 0.0

    def observe(self, stats):
        """Update tau from the statistics of the backward pass that just ran."""

    @property
    def spec(self):
        raise NotImplementedError

    def __repr__(self):
        return f"<{type(self).__name__} {self.spec} tau={self.tau:.3g}>"


class StaticThreshold(ThresholdRule):
    def __init__(self, tau):
        super().__init__()
        self.tau = _number("static threshold TAU", tau, 0.0, None)

    @property
    def spec(self):
        return f"static:{self.tau!r}"


class TargetSparsity(ThresholdRule):
    needs_dz = True

    def __init__(self, sparsity, smooth=0.0):
        super().__init__()
        self.sparsity = _number("target sparsity S", sparsity, 0.0, 1.0, open_high=True)
        self.smooth = _number("smooth", smooth, 0.0, 1.0, open_high=True)
        self._log_tau = None

    #: The quantile is taken over at most this many dz entries, drawn once per
    #: array size from a fixed seed (deterministic; the standard error of the
    #: estimated sparsity is then below 0.002).
    max_samples = 1 << 16

    def observe(self, stats):
        flat = stats.dz_raw.reshape(-1)
        if flat.size > self.max_samples:
            if getattr(self, "_sample_size", None) != flat.size:
                self._sample = np.random.default_rng(0).integers(0, flat.size, self.max_samples)
                self._sample_size = flat.size
            flat = flat[self._sample]
        a = np.abs(flat)
        k = int(math.floor(self.sparsity * a.size))
        q = float(np.partition(a, k)[k]) if a.size else 0.0
        if q <= 0:
            return  # all of the quantile is exact zeros: nothing to learn from this step
        lq = math.log(q)
        self._log_tau = lq if self._log_tau is None else self.smooth * self._log_tau + (1 - self.smooth) * lq
        self.tau = math.exp(self._log_tau)

    @property
    def spec(self):
        return f"sparsity:{self.sparsity!r}" + (f",smooth={self.smooth!r}" if self.smooth else "")


class RelativeRMS(ThresholdRule):
    def __init__(self, k, decay=0.9):
        super().__init__()
        self.k = _number("rms factor K", k, 0.0, None)
        self.decay = _number("decay", decay, 0.0, 1.0, open_high=True)
        self._mean_sq = None

    def observe(self, stats):
        ms = stats.sum_sq / stats.total_entries if stats.total_entries else 0.0
        self._mean_sq = ms if self._mean_sq is None else self.decay * self._mean_sq + (1 - self.decay) * ms
        self.tau = self.k * math.sqrt(self._mean_sq)

    @property
    def spec(self):
        return f"rms:{self.k!r},decay={self.decay!r}"


def _number(name, value, low, high, *, open_high=False):
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number, not {value!r}") from None
    if not math.isfinite(v):
        raise ConfigError(f"{name} must be finite, not {value!r}")
    if v < low or (high is not None and (v >= high if open_high else v > high)):
        bound = f"in [{low:g}, {high:g}{')' if open_high else ']'}" if high is not None else f">= {low:g}"
        raise ConfigError(f"{name} must be {bound}, not {value!r}")
    return v


_RULES = {
    "static": (StaticThreshold, ()),
    "sparsity": (TargetSparsity, ("smooth",)),
    "rms": (RelativeRMS, ("decay",)),
}


def parse_threshold(spec):
    """Make a ThresholdRule from its text form (see the module docstring).

    A number alone (``1e-3`` or ``0``) is read as a static threshold.
    """
    if isinstance(spec, ThresholdRule):
        return spec
    if isinstance(spec, (int, float)) and not isinstance(spec, bool):
        return StaticThreshold(spec)
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError(f"threshold must be one of {THRESHOLD_HELP}; got {spec!r}")
    text = spec.strip()
    if text in ("dense", "none"):
        return StaticThreshold(0.0)
    name, sep, rest = text.partition(":")
    if not sep:
        try:
            return StaticThreshold(float(text))
        except ValueError:
            pass
        raise ConfigError(f"threshold must be one of {THRESHOLD_HELP}; got {spec!r}")
    if name not in _RULES:
        raise ConfigError(f"unknown threshold rule {name!r} in {spec!r}; use {THRESHOLD_HELP}")
    cls, options = _RULES[name]
    value, *opts = rest.split(",")
    kwargs = {}
    for opt in opts:
        key, eq, val = opt.partition("=")
        if not eq or key.strip() not in options:
            allowed = ", ".join(options) or "none"
            raise ConfigError(f"bad option {opt!r} in threshold {spec!r} (options of {name}: {allowed})")
        kwargs[key.strip()] = val
    if not value.strip():
        raise ConfigError(f"threshold {spec!r} has no value after '{name}:'")
    return cls(value, **kwargs)
