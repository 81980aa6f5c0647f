"""Host scalars: Python numbers that a graph computes at run time.

An optimizer's bias correction ``1 - beta1 ** step`` is Python float
arithmetic on a counter that changes every step, and a learning rate is read
from ``param_groups`` at every step. Inside a trace they are ``HostScalar``s:
arithmetic on them adds HOST nodes, and using one in an op passes a Python
float to the kernel at run time, exactly as eager passes it, so the result is
bitwise the same. Branching on one raises, as for any symbolic value.
"""

from __future__ import annotations

import operator

from . import ir
from .build import HostScalarBase, _graph_of, frame_of_user
from .symbolic import data_dependent


class HostScalar(HostScalarBase):
    __slots__ = ()

    def __init__(self, value):
        self.value = value

    def _host(self, fn, *args):
        graph = self.value.node.graph
        inputs = [a.value if isinstance(a, HostScalar) else a for a in args]
        node = graph.add(ir.HOST, None, inputs, {"fn": fn}, [((), float)], name=fn.__name__, frame=frame_of_user())
        return HostScalar(node.out)

    def __bool__(self):
        raise data_dependent("bool()", self.value)

    def __float__(self):
        raise data_dependent("float()", self.value)

    def __repr__(self):
        return f"<host scalar {self.value.node.name}>"


def _binary(fn, reflected=False):
    def method(self, other):
        if not isinstance(other, (int, float, HostScalar)):
            return NotImplemented
        return self._host(fn, other, self) if reflected else self._host(fn, self, other)

    return method


for _name in ("add", "sub", "mul", "truediv", "pow"):
    _fn = getattr(operator, _name)
    setattr(HostScalar, f"__{_name}__", _binary(_fn))
    setattr(HostScalar, f"__r{_name}__", _binary(_fn, reflected=True))
HostScalar.__neg__ = lambda self: self._host(operator.neg, self)
for _name in ("lt", "le", "gt", "ge", "eq", "ne"):
    setattr(
        HostScalar, f"__{_name}__", lambda self, other: (_ for _ in ()).throw(data_dependent("comparing", self.value))
    )
HostScalar.__hash__ = object.__hash__
del _name, _fn


def _item(a):
    return a.item()


def item(sym):
    """``array.item()`` of a symbolic 0-d array: a host scalar read at run time."""
    graph = sym.value.node.graph
    if sym.shape != () and sym.size != 1:
        raise ValueError(f"can only convert an array of size 1 to a Python scalar (shape {sym.shape})")
    node = graph.add(ir.HOST, None, [sym.value], {"fn": _item}, [((), float)], name="item", frame=frame_of_user())
    return HostScalar(node.out)


def host_input(get, name="host_input", graph=None):
    """A Python number read by calling ``get()`` at every run (e.g. an optimizer's current lr)."""
    if graph is None:
        graph = _graph_of(())
    node = graph.add(ir.HOST, None, [], {"get": get}, [((), float)], name=name, frame=frame_of_user())
    return HostScalar(node.out)


def _counter(axes):
    def count(a):
        n = 1
        for ax in axes:
            n *= a.shape[ax]
        return n

    count.__name__ = f"count{list(axes)}"
    return count


def count(sym, axes):
    graph = sym.value.node.graph
    fn = _counter(tuple(axes))
    node = graph.add(ir.HOST, None, [sym.value], {"fn": fn}, [((), int)], name="count", frame=frame_of_user())
    return HostScalar(node.out)
