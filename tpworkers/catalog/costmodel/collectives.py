"""Collectives on a link: bytes per element, bus bandwidth, the ring all-reduce's time, and the
fit of that ring to a measured sweep.

Sources:
- busbw factors: nccl-tests doc/PERFORMANCE.md
  (https://github.com/NVIDIA/nccl-tests/blob/master/doc/PERFORMANCE.md) — all-reduce 2(n-1)/n; all-gather,
  reduce-scatter, all-to-all (n-1)/n; broadcast, reduce 1. algbw = S / t.
- ring all-reduce: t = 2(n-1)·alpha + 2(n-1)/n · S/B (alpha per step, B per-direction link).
"""
from __future__ import annotations

import dataclasses
from typing import Iterable

from tpworkers.catalog.links import Link

# Bytes per element: IEEE 754 binary32 4, bfloat16/binary16 2, FP8 (E4M3/E5M2, Micikevicius et al.
# 2022, arXiv 2209.05433) and int8 1, int4 0.5.
DTYPE_BYTES: dict[str, float] = {
    "fp32": 4, "float32": 4, "bf16": 2, "bfloat16": 2, "fp16": 2, "float16": 2, "half": 2,
    "fp8": 1, "fp8_e4m3": 1, "fp8_e5m2": 1, "int8": 1, "int4": 0.5,
}

# nccl-tests doc/PERFORMANCE.md bus-bandwidth factors, as functions of the rank count n.
_BUS_FACTORS = {
    "all_reduce": lambda n: 2 * (n - 1) / n,
    "all_gather": lambda n: (n - 1) / n,
    "reduce_scatter": lambda n: (n - 1) / n,
    "all_to_all": lambda n: (n - 1) / n,
    "broadcast": lambda n: 1.0,
    "reduce": lambda n: 1.0,
}


def dtype_bytes(name: str) -> float:
    try:
        return DTYPE_BYTES[name.strip().lower()]
    except (KeyError, AttributeError):
        raise ValueError(f"unknown dtype {name!r}; known: {', '.join(DTYPE_BYTES)}") from None


def bus_factor(op: str, n: int) -> float:
    if op not in _BUS_FACTORS:
        raise ValueError(f"unknown collective {op!r}; known: {', '.join(_BUS_FACTORS)}")
    if n < 1:
        raise ValueError(f"a collective needs at least 1 rank, got n={n}")
    return _BUS_FACTORS[op](n)


def algbw_Bps(size_bytes: float, seconds: float) -> float:
    if seconds <= 0:
        raise ValueError(f"time must be positive, got {seconds}")
    return size_bytes / seconds


def busbw_Bps(op: str, n: int, size_bytes: float, seconds: float) -> float:
    return algbw_Bps(size_bytes, seconds) * bus_factor(op, n)


def ring_allreduce_time_s(size_bytes: float, n: int, alpha_s: float, bandwidth_Bps: float) -> float:
    """t = alpha·2(n-1) + (2(n-1)/n)·S/B; one rank (n=1) communicates nothing."""
    if n < 1:
        raise ValueError(f"a ring needs at least 1 rank, got n={n}")
    if n == 1:
        return 0.0
    if bandwidth_Bps <= 0:
        raise ValueError(f"bandwidth must be positive, got {bandwidth_Bps}")
    return alpha_s * 2 * (n - 1) + bus_factor("all_reduce", n) * size_bytes / bandwidth_Bps


def link_allreduce_time_s(size_bytes: float, n: int, link: Link) -> float:
    return ring_allreduce_time_s(size_bytes, n, link.alpha_s, link.bandwidth_Bps)


def fit_alpha_beta(points: Iterable[tuple[float, float]], n: int) -> tuple[float, float]:
    """Least-squares fit of the ring model to a sweep of (size_bytes, seconds) -> (alpha, B).

    The model is linear in S: t = c0 + c1·S with c0 = 2(n-1)·alpha and c1 = 2(n-1)/(n·B).
    Residuals are weighted by 1/t² (relative error) so that a log-spaced sweep's small sizes,
    which carry alpha, count as much as the large ones, which carry B. A negative intercept
    (noise) is clamped: alpha = 0 and the slope is refitted through the origin.
    """
    if n < 2:
        raise ValueError(f"fitting needs a collective over at least 2 ranks, got n={n}")
    pts = [(float(s), float(t)) for s, t in points]
    if any(t <= 0 or s < 0 for s, t in pts):
        raise ValueError("every point needs size >= 0 and time > 0")
    if len({s for s, _ in pts}) < 2:
        raise ValueError("fitting needs at least two distinct message sizes")
    w = [1 / t**2 for _, t in pts]
    sw = sum(w)
    mean_s = sum(wi * s for wi, (s, _) in zip(w, pts)) / sw
    mean_t = sum(wi * t for wi, (_, t) in zip(w, pts)) / sw
    sxx = sum(wi * (s - mean_s) ** 2 for wi, (s, _) in zip(w, pts))
    sxy = sum(wi * (s - mean_s) * (t - mean_t) for wi, (s, t) in zip(w, pts))
    slope = sxy / sxx
    intercept = mean_t - slope * mean_s
    if intercept < 0:
        intercept = 0.0
        slope = (sum(wi * s * t for wi, (s, t) in zip(w, pts))
                 / sum(wi * s * s for wi, (s, _) in zip(w, pts)))
    if slope <= 0:
        raise ValueError("time does not grow with size in this sweep; cannot fit a bandwidth")
    alpha = intercept / (2 * (n - 1))
    bandwidth = bus_factor("all_reduce", n) / slope
    return alpha, bandwidth


def fitted_link(base: Link, points: Iterable[tuple[float, float]], n: int) -> Link:
    """``base`` with alpha and B replaced by a fit to a measured all-reduce sweep."""
    pts = list(points)
    alpha, bandwidth = fit_alpha_beta(pts, n)
    return dataclasses.replace(
        base, alpha_s=alpha, bandwidth_Bps=bandwidth, measured=True,
        source=f"fitted to a measured {n}-rank all-reduce sweep ({len(pts)} sizes)")
