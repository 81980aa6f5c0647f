"""The non-graph parts of TF1 that tutorial scripts call: ``tf.app``, ``tf.flags``, ``tf.logging``, ``tf.test``.

Small stand-ins with TF's spellings: flags parsed from ``--name=value``
arguments by ``tf.app.run``, logging through Python's ``logging`` under the
"tensorflow" logger, and a ``tf.test`` that reports no GPU (ember's graph
Session runs on NumPy).
"""

from __future__ import annotations

import logging as _logging
import sys
import types

VERSION = __version__ = "1.15.5"  # the TF1 API level this module follows
GIT_VERSION = "ember"
COMPILER_VERSION = ""


class GPUOptions:
    """Accepted for compatibility (``tf.ConfigProto(gpu_options=tf.GPUOptions(allow_growth=True))``)."""

    def __init__(self, **kwargs):
        self.__dict__.update(kwargs)
        self.allow_growth = kwargs.get("allow_growth", False)


# ---- flags ---------------------------------------------------------------------------------------
def _bool(v):
    if isinstance(v, bool):
        return v
    s = str(v).lower()
    if s in ("1", "true", "t", "yes", "y"):
        return True
    if s in ("0", "false", "f", "no", "n"):
        return False
    raise ValueError(f"flag value {v!r} is not a boolean")


class _Flags:
    """``FLAGS.name`` after ``DEFINE_*``; ``tf.app.run`` (or calling FLAGS(argv)) parses ``--name=value``."""

    def __init__(self):
        object.__setattr__(self, "_defs", {})  # name -> (parse, value, help)
        object.__setattr__(self, "_parsed", False)

    def _define(self, name, default, help_text, parse):
        self._defs[name] = [parse, None if default is None else parse(default), help_text]

    def __getattr__(self, name):
        defs = object.__getattribute__(self, "_defs")
        if name in defs:
            return defs[name][1]
        raise AttributeError(f"Unknown command line flag '{name}'")

    def __setattr__(self, name, value):
        if name not in self._defs:
            raise AttributeError(f"Unknown command line flag '{name}'")
        self._defs[name][1] = value

    def __contains__(self, name):
        return name in self._defs

    def __call__(self, argv):
        """Parse ``--name=value`` / ``--name value`` / ``--[no]flag``; return the other arguments."""
        rest, args, i = [argv[0]] if argv else [], list(argv[1:]), 0
        while i < len(args):
            a = args[i]
            i += 1
            if not a.startswith("--") or a == "--":
                rest.append(a)
                continue
            name, eq, value = a[2:].partition("=")
            if name not in self._defs and name.startswith("no") and name[2:] in self._defs and not eq:
                self._defs[name[2:]][1] = False
                continue
            if name not in self._defs:
                raise ValueError(f"Unknown command line flag '{name}'")
            parse = self._defs[name][0]
            if not eq:
                if parse is _bool:
                    self._defs[name][1] = True
                    continue
                if i >= len(args):
                    raise ValueError(f"Flag --{name} needs a value")
                value = args[i]
                i += 1
            self._defs[name][1] = parse(value)
        object.__setattr__(self, "_parsed", True)
        return rest

    def flag_values_dict(self):
        return {k: v[1] for k, v in self._defs.items()}


FLAGS = _Flags()


def _definer(parse):
    def define(name, default, help=None, *args, **kwargs):  # noqa: A002 - TF's argument name
        FLAGS._define(name, default, help, parse)

    return define


def _list(v):
    return v if isinstance(v, list) else [s for s in str(v).split(",") if s]


flags = types.SimpleNamespace(
    FLAGS=FLAGS,
    DEFINE_string=_definer(str),
    DEFINE_integer=_definer(int),
    DEFINE_float=_definer(float),
    DEFINE_boolean=_definer(_bool),
    DEFINE_bool=_definer(_bool),
    DEFINE_list=_definer(_list),
)


def run(main=None, argv=None):
    """Parse flags from ``argv`` (default sys.argv), call ``main(remaining_argv)``, exit with its result."""
    argv = FLAGS(sys.argv if argv is None else argv)
    main = main or sys.modules["__main__"].main
    sys.exit(main(argv))


app = types.SimpleNamespace(run=run, flags=flags)


# ---- logging -------------------------------------------------------------------------------------
_logger = _logging.getLogger("tensorflow")

logging = types.SimpleNamespace(
    DEBUG=_logging.DEBUG,
    INFO=_logging.INFO,
    WARN=_logging.WARNING,
    WARNING=_logging.WARNING,
    ERROR=_logging.ERROR,
    FATAL=_logging.CRITICAL,
    set_verbosity=_logger.setLevel,
    get_verbosity=_logger.getEffectiveLevel,
    debug=_logger.debug,
    info=_logger.info,
    warn=_logger.warning,
    warning=_logger.warning,
    error=_logger.error,
    fatal=_logger.critical,
    log=_logger.log,
)


# ---- tf.test -------------------------------------------------------------------------------------
test = types.SimpleNamespace(
    is_gpu_available=lambda cuda_only=False, min_cuda_compute_capability=None: False,
    gpu_device_name=lambda: "",
    is_built_with_cuda=lambda: False,
)
