"""Computed figures: a tiny, safe expression language whose functions call the cost model.

Lesson text writes ``{{ calc: allreduce_bytes(hidden=16384, tokens=8, dtype="fp16") | KiB }}``;
this module evaluates the expression (only the functions below, literals and arithmetic — no
attribute access, and no names but a variant's varied inputs) and formats the result in the
unit asked for. The formulas stay in ``tpworkers.catalog.costmodel``; these wrappers only look
up catalog entries by name.
"""
from __future__ import annotations

import ast
import operator

from tpworkers.catalog import costmodel
from tpworkers.catalog.gpus import get_gpu
from tpworkers.catalog.links import get_link
from tpworkers.catalog.modelshapes import get_model


def _fit(model, dtype, gpu, context, batch, tp=1):
    return costmodel.memory_fit(get_model(model), dtype, get_gpu(gpu).memory_bytes, context, batch, tp=tp)


def _step(model, tp, tokens, dtype, gpu, link):
    return costmodel.decode_step_floor(get_model(model), dtype, tp, tokens, get_gpu(gpu).hbm_Bps, get_link(link))


def _comm(model, tp, tokens, dtype, link):
    return costmodel.decode_comm_per_token(get_model(model), tp, tokens, dtype, get_link(link))


FUNCTIONS = {
    "allreduce_bytes": lambda hidden, tokens, dtype: costmodel.allreduce_bytes(hidden, tokens, dtype),
    "allreduces_per_token": lambda model: costmodel.allreduces_per_token(get_model(model)),
    "layers": lambda model: get_model(model).num_hidden_layers,
    "hidden": lambda model: get_model(model).hidden_size,
    "heads": lambda model: get_model(model).num_attention_heads,
    "kv_heads": lambda model: get_model(model).num_key_value_heads,
    "head_dim": lambda model: get_model(model).resolved_head_dim,
    "ffn": lambda model: get_model(model).intermediate_size,
    "params": lambda model: costmodel.param_count(get_model(model)),
    "weight_bytes": lambda model, dtype: costmodel.weight_bytes(get_model(model), dtype),
    "kv_bytes_per_token": lambda model, dtype: costmodel.kv_bytes_per_token(get_model(model), dtype),
    "gpu_memory": lambda gpu: get_gpu(gpu).memory_bytes,
    "hbm_bandwidth": lambda gpu: get_gpu(gpu).hbm_Bps,
    "decode_weight_read": lambda model, dtype, tp, gpu:
        costmodel.decode_weight_read_s(get_model(model), dtype, tp, get_gpu(gpu).hbm_Bps),
    "memory_per_gpu": lambda *a, **k: _fit(*a, **k).total,
    "weights_per_gpu": lambda *a, **k: _fit(*a, **k).weights,
    "kv_per_gpu": lambda *a, **k: _fit(*a, **k).kv,
    "overhead_per_gpu": lambda *a, **k: _fit(*a, **k).overhead,
    "overhead_fraction": lambda: costmodel.DEFAULT_OVERHEAD_FRACTION,
    "fits": lambda *a, **k: _fit(*a, **k).fits,
    "valid_tp_sizes": lambda model, max_tp=8: costmodel.valid_tp_sizes(get_model(model), max_tp),
    "column_shard_columns": lambda hidden, tp: costmodel.column_parallel_shard(hidden, tp, 1, "fp16")[0],
    "column_shard_bytes": lambda hidden, tp, tokens, dtype:
        costmodel.column_parallel_shard(hidden, tp, tokens, dtype)[1],
    "shard_shape": lambda model, tp, weight: costmodel.shard_shapes(get_model(model), tp)[weight],
    "link_name": lambda link: get_link(link).name,
    "link_bandwidth": lambda link: get_link(link).bandwidth_Bps,
    "link_alpha": lambda link: get_link(link).alpha_s,
    "allreduce_time": lambda size, n, link: costmodel.link_allreduce_time_s(size, n, get_link(link)),
    # the latency term alone, 2(n-1)·alpha: the ring model's time for an empty message
    "allreduce_latency": lambda n, link: costmodel.link_allreduce_time_s(0, n, get_link(link)),
    "comm_per_token": lambda *a, **k: _comm(*a, **k).seconds_per_token,
    # the part of comm_per_token that is the assumed latency: the same all-reduces, empty
    "latency_per_token": lambda model, tp, link: _comm(model, tp, 0, "bf16", link).seconds_per_token,
    # a decode step's floor: weight read + all-reduces (dtype: the weights'; activations bf16)
    "decode_step": lambda *a, **k: _step(*a, **k).total_s,
    "comm_share": lambda *a, **k: _step(*a, **k).comm_share,
    "bus_factor": costmodel.bus_factor,
    "dtype_bytes": costmodel.dtype_bytes,
}

_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
           ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
           ast.Pow: operator.pow}
_COMPARE = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
            ast.Gt: operator.gt, ast.GtE: operator.ge, ast.In: lambda a, b: a in b,
            ast.NotIn: lambda a, b: a not in b}


class FigureError(ValueError):
    """An expression that does not parse, calls an unknown function or fails in the cost model."""


def evaluate(expression: str, names: dict | None = None):
    """The expression's value. ``names`` binds a variant's varied inputs (lessons.variants);
    without them an expression may use no names at all."""
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as exc:
        raise FigureError(f"cannot parse {expression!r}: {exc.msg}") from None
    try:
        return _eval(tree.body, names or {})
    except FigureError:
        raise
    except (ValueError, KeyError, TypeError, ZeroDivisionError) as exc:
        raise FigureError(f"{expression!r} failed: {exc}") from None


def _eval(node, names: dict):
    if isinstance(node, ast.Name) and node.id in names:
        return names[node.id]
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, str, bool)):
        return node.value
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_eval(item, names) for item in node.elts]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.Not)):
        value = _eval(node.operand, names)
        return -value if isinstance(node.op, ast.USub) else not value
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        return _BINARY[type(node.op)](_eval(node.left, names), _eval(node.right, names))
    if isinstance(node, ast.BoolOp):
        values = [_eval(v, names) for v in node.values]
        return all(values) if isinstance(node.op, ast.And) else any(values)
    if isinstance(node, ast.Compare) and all(type(op) in _COMPARE for op in node.ops):
        left = _eval(node.left, names)
        for op, right_node in zip(node.ops, node.comparators):
            right = _eval(right_node, names)
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True
    if isinstance(node, ast.Subscript):
        return _eval(node.value, names)[_eval(node.slice, names)]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        if node.func.id not in FUNCTIONS:
            raise FigureError(f"unknown function {node.func.id!r}; known: {', '.join(FUNCTIONS)}")
        args = [_eval(a, names) for a in node.args]
        kwargs = {k.arg: _eval(k.value, names) for k in node.keywords}
        return FUNCTIONS[node.func.id](*args, **kwargs)
    if isinstance(node, ast.Name):
        known = f"this variant's names are {', '.join(names)}" if names else "only a variant's expressions have names"
        raise FigureError(f"unknown name {node.id!r}: {known}")
    raise FigureError(f"not allowed in a figure: {ast.unparse(node)!r}")


# unit -> (what the raw value is divided by, how the unit is printed)
UNITS = {
    "B": (1, "B"), "KiB": (1024, "KiB"), "MiB": (1024**2, "MiB"), "GiB": (1024**3, "GiB"),
    "kB": (1e3, "kB"), "MB": (1e6, "MB"), "GB": (1e9, "GB"), "TB": (1e12, "TB"),
    "GB/s": (1e9, "GB/s"), "s": (1, "s"), "ms": (1e-3, "ms"), "us": (1e-6, "µs"),
    "%": (0.01, "%"), "x": (1, "×"), "": (1, ""),
}


def in_unit(value: float, unit: str) -> float:
    if unit not in UNITS:
        raise FigureError(f"unknown unit {unit!r}; known: {', '.join(u or '(none)' for u in UNITS)}")
    return value / UNITS[unit][0]


def format_number(value: float) -> str:
    """Three significant figures at most, thousands separated, no trailing zeros."""
    if float(value).is_integer():
        return f"{int(value):,}"
    magnitude = abs(value)
    decimals = 0 if magnitude >= 100 else 1 if magnitude >= 10 else 2 if magnitude >= 0.1 else 4
    text = f"{value:,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def format_value(value, unit: str) -> str:
    """A value as prose shows it: numbers in ``unit``; lists joined; shapes as rows × cols;
    yes/no for booleans."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        if unit == "shape":
            return " × ".join(f"{int(v):,}" for v in value)
        return ", ".join(format_value(v, "") for v in value)
    if isinstance(value, str):
        return value
    label = UNITS[unit][1] if unit in UNITS else unit
    number = format_number(in_unit(value, unit))
    return f"{number} {label}".strip() if label not in ("%", "×") else f"{number}{label}"
