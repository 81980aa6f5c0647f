"""Graphs as text that reads like a program, and as Graphviz DOT / SVG."""

from __future__ import annotations

import os

from . import ir


def _arg(a):
    if isinstance(a, ir.Value):
        return repr(a)
    return repr(a)


def _attrs(attrs):
    parts = []
    for k, v in attrs.items():
        if k in ("slot",):
            continue
        if k == "value":
            continue
        if k in ("fn", "get"):
            v = getattr(v, "__name__", v)
            parts.append(f"{k}={v}")
            continue
        parts.append(f"{k}={v!r}")
    return parts


def node_line(n):
    """One node as ``%name = op(args, attrs)`` (without types or source)."""
    outs = ", ".join(repr(v) for v in n.values)
    lhs = f"{outs} = " if outs else f"{n.name}: "  # a group has no value: show its name
    if n.kind == ir.OP:
        call = f"{n.op.name}({', '.join([_arg(a) for a in n.inputs] + _attrs(n.attrs))})"
    elif n.kind == ir.INPUT:
        call = "input()"
    elif n.kind == ir.CONST:
        val = n.attrs["value"]
        call = f"const({val.item()!r})" if getattr(val, "size", 2) == 1 else "const(...)"
    elif n.kind == ir.READ:
        call = f"read({n.attrs['slot'].name})"
    elif n.kind == ir.ASSIGN:
        call = f"assign({n.attrs['slot'].name}, {_arg(n.inputs[0])})"
    elif n.kind == ir.HOST:
        call = f"host({', '.join([_arg(a) for a in n.inputs] + _attrs(n.attrs))})"
    else:
        call = f"group({', '.join(_arg(a) for a in n.inputs)})"
    if n.control:
        call += f"  after({', '.join(c.name for c in n.control)})"
    return lhs + call


def format_graph(graph):
    ins = ", ".join(f"{v!r}: {ir.type_str(v.shape, v.dtype)}" for v in graph.inputs)
    lines = [f"graph {graph.name}({ins}) {{"]
    for n in graph.nodes:
        text = "  " + node_line(n)
        types = ", ".join(ir.type_str(v.shape, v.dtype) for v in n.values)
        where = ""
        if n.frame:
            where = f"  # {os.path.basename(n.frame[0])}:{n.frame[1]}"
        pad = max(1, 60 - len(text))
        lines.append(f"{text}{' ' * pad}{types}{where}")
    if graph.outputs:
        lines.append(f"  return {', '.join(repr(v) for v in graph.outputs)}")
    lines.append("}")
    return "\n".join(lines)


def to_dot(graph):
    """Graphviz DOT: a box per node (op and output type), an edge per data or control dependency."""
    out = [f'digraph "{graph.name}" {{', "  rankdir=TB;", '  node [shape=box, fontname="monospace"];']
    for n in graph.nodes:
        label = f"{n.name}\\n{n.op_name}\\n" + ", ".join(ir.type_str(v.shape, v.dtype) for v in n.values)
        style = {
            ir.INPUT: ', style=filled, fillcolor="#dbeafe"',
            ir.READ: ', style=filled, fillcolor="#dcfce7"',
            ir.ASSIGN: ', style=filled, fillcolor="#fee2e2"',
            ir.CONST: ', style=filled, fillcolor="#f3f4f6"',
        }.get(n.kind, "")
        out.append(f'  n{n.id} [label="{label}"{style}];')
        for a in n.inputs:
            if isinstance(a, ir.Value):
                out.append(f"  n{a.node.id} -> n{n.id};")
        for c in n.control:
            out.append(f"  n{c.id} -> n{n.id} [style=dashed];")
    out.append("}")
    return "\n".join(out)


def to_svg(graph, path=None):
    """SVG through the Graphviz ``dot`` program (the graphviz package is not needed)."""
    import shutil
    import subprocess

    dot = shutil.which("dot")
    if dot is None:
        raise RuntimeError("to_svg needs Graphviz's 'dot' program on PATH; graph.to_dot() gives the DOT text")
    svg = subprocess.run([dot, "-Tsvg"], input=graph.to_dot().encode(), capture_output=True, check=True).stdout
    if path is not None:
        with open(path, "wb") as f:
            f.write(svg)
    return svg.decode()
