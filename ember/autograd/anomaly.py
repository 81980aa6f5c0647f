"""Anomaly detection: record where each op was created, and fail on NaN in backward."""

from __future__ import annotations

from .grad_mode import state


class detect_anomaly:
    """``with ember.autograd.detect_anomaly():`` a NaN produced in backward names the forward op and line."""

    def __init__(self, check_nan=True):
        self.check_nan = check_nan

    def __enter__(self):
        self.prev = state.anomaly
        state.anomaly = True
        state.anomaly_check_nan = self.check_nan
        return self

    def __exit__(self, *exc):
        state.anomaly = self.prev
        return False

    def __call__(self, fn):
        import functools

        @functools.wraps(fn)
        def wrapper(*a, **k):
            with detect_anomaly(self.check_nan):
                return fn(*a, **k)

        return wrapper


class set_detect_anomaly:
    def __init__(self, mode: bool, check_nan: bool = True):
        self.prev = state.anomaly
        state.anomaly = bool(mode)
        state.anomaly_check_nan = check_nan

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        state.anomaly = self.prev
        return False


def is_anomaly_enabled():
    return state.anomaly
