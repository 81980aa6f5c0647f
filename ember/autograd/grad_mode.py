"""Grad modes: no_grad, enable_grad, set_grad_enabled, inference_mode.

The eager interpreter reads ``state.enabled`` on every op to decide whether
to record a tape node; each mode is a context manager and a decorator. As in
PyTorch, the modes are per thread: a server answering requests under
``no_grad`` in worker threads never switches gradients off for the trainer.
"""

from __future__ import annotations

import copy
import functools
import inspect
import threading


class _State(threading.local):
    """Per-thread autograd switches read on the eager hot path (class attributes are each thread's defaults)."""

    enabled = True
    inference = False  # inside inference_mode (not merely no_grad)
    anomaly = False
    anomaly_check_nan = True


state = _State()


def is_grad_enabled() -> bool:
    return state.enabled


class _Mode:
    """A grad-mode context manager that also works as a decorator."""

    _value = True  # None: leave the mode as it is

    def __enter__(self):
        self._prev = state.enabled
        if self._value is not None:
            state.enabled = self._value
        return self

    def __exit__(self, *exc):
        state.enabled = self._prev
        return False

    def _clone(self):
        return copy.copy(self)

    def __call__(self, fn):
        if inspect.isgeneratorfunction(fn):

            @functools.wraps(fn)
            def gen_wrapper(*args, **kwargs):
                # as in PyTorch: the mode holds while the generator runs, not while it is suspended
                gen = fn(*args, **kwargs)
                try:
                    with self._clone():
                        response = gen.send(None)
                    while True:
                        try:
                            request = yield response
                        except GeneratorExit:
                            with self._clone():
                                gen.close()
                            raise
                        except BaseException as e:
                            with self._clone():
                                response = gen.throw(e)
                        else:
                            with self._clone():
                                response = gen.send(request)
                except StopIteration as e:
                    return e.value

            return gen_wrapper

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self._clone():
                return fn(*args, **kwargs)

        return wrapper


class _NoParamMode(_Mode):
    """``@no_grad`` works with or without parentheses, as in PyTorch."""

    def __new__(cls, orig_func=None):
        self = super().__new__(cls)
        if orig_func is None:
            return self
        return self(orig_func)


class no_grad(_NoParamMode):
    """Disable gradient recording (``with ember.no_grad():`` or ``@ember.no_grad()``)."""

    _value = False


class enable_grad(_NoParamMode):
    _value = True


class set_grad_enabled(_Mode):
    """Set grad mode now; as a context manager, restore the previous mode on exit."""

    def __init__(self, mode: bool):
        self._prev = state.enabled
        self._value = bool(mode)
        state.enabled = self._value

    def __enter__(self):
        return self

    def __call__(self, fn):
        state.enabled = self._prev  # as a decorator it changes the mode only while fn runs
        return super().__call__(fn)

    def _clone(self):
        return set_grad_enabled(self._value)


class inference_mode(_Mode):
    """Like no_grad (ember has no separate inference tensors); ``mode=False`` changes nothing."""

    def __new__(cls, mode=True):
        self = super().__new__(cls)
        if callable(mode):  # bare ``@inference_mode``
            self.__init__()
            return self(mode)
        return self

    def __init__(self, mode: bool = True):
        self._value = False if mode else None
        self._inference = bool(mode)

    def __enter__(self):
        self._prev_inference = state.inference
        state.inference = self._inference
        return super().__enter__()

    def __exit__(self, *exc):
        state.inference = self._prev_inference
        return super().__exit__(*exc)


def is_inference_mode_enabled() -> bool:
    return state.inference
