"""Megatron's conjugate operators f and g, and a log of every collective they run.

Shoeybi et al. 2019, "Megatron-LM" (arXiv 1909.08053), §3 and Fig. 3. Split an MLP Y = GeLU(X A) B
with A by columns and B by rows; rank i holds A_i and B_i:
    Z = Σ_i GeLU(X A_i) B_i
  f: before a column-parallel layer. Forward: identity (every rank already holds all of X).
     Backward: all-reduce, since each rank only has its own part of dL/dX = Σ_i dL/dX_i.
  g: after a row-parallel layer. Forward: all-reduce, summing the partial products Z_i.
     Backward: identity (dL/dZ is already complete on every rank).
f and g are conjugate: each is the other with forward and backward swapped. An MLP or an
attention block therefore costs one all-reduce forward and one backward; a transformer layer two
of each.

The log (`recording`) is how the lab *observes* that count instead of asserting it: every
all-reduce through f or g appends (phase, bytes, seconds). To time a collective on its own the
device is synchronized around it; in tensor parallelism nothing can overlap that all-reduce anyway,
because the next layer needs its result.
"""

from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
import torch.distributed as dist

from tpworkers.measure.timing import wall_seconds


@dataclass(frozen=True)
class CollectiveCall:
    op: str          # "all_reduce"
    phase: str       # "forward" or "backward"
    bytes: int       # size of the reduced tensor on one rank (nccl-tests S)
    seconds: float   # wall time around the call, device synchronized on both sides


@dataclass
class CommLog:
    """Collectives run through f and g while this log is being recorded into."""

    device: torch.device
    calls: list[CollectiveCall] = field(default_factory=list)

    def select(self, phase: str) -> list[CollectiveCall]:
        return [call for call in self.calls if call.phase == phase]

    def seconds(self, phase: str) -> float:
        return sum(call.seconds for call in self.select(phase))


_active_log: CommLog | None = None  # one per process; the autograd thread must see it too


@contextmanager
def recording(log: CommLog):
    """Append every f/g collective run inside the block to `log`."""
    global _active_log
    previous, _active_log = _active_log, log
    try:
        yield log
    finally:
        _active_log = previous


def all_reduce(tensor: torch.Tensor, group, phase: str) -> torch.Tensor:
    """Sum `tensor` in place over `group` (skipped for a group of one), logging the call."""
    if dist.get_world_size(group) == 1:
        return tensor
    log = _active_log
    if log is None:
        dist.all_reduce(tensor, group=group)
        return tensor
    seconds = wall_seconds(lambda: dist.all_reduce(tensor, group=group), log.device)
    log.calls.append(CollectiveCall("all_reduce", phase, tensor.numel() * tensor.element_size(), seconds))
    return tensor


class _IdentityForwardAllReduceBackward(torch.autograd.Function):
    """f."""

    @staticmethod
    def forward(ctx, x, group):
        ctx.group = group
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return all_reduce(grad.contiguous().clone(), ctx.group, "backward"), None


class _AllReduceForwardIdentityBackward(torch.autograd.Function):
    """g."""

    @staticmethod
    def forward(ctx, x, group):
        return all_reduce(x.contiguous().clone(), group, "forward")

    @staticmethod
    def backward(ctx, grad):
        return grad, None


def f(x: torch.Tensor, group=None) -> torch.Tensor:
    """Identity forward, all-reduce backward (enter a column-parallel region)."""
    return _IdentityForwardAllReduceBackward.apply(x, group)


def g(x: torch.Tensor, group=None) -> torch.Tensor:
    """All-reduce forward, identity backward (leave a row-parallel region)."""
    return _AllReduceForwardIdentityBackward.apply(x, group)


_tp_groups: dict[int, object] = {}  # per rank process, kept while the warm pool lives


def tp_group(tp: int):
    """Process group of world ranks 0..tp-1. new_group is collective: every rank of the world
    must call this with the same tp in the same order, members or not."""
    if tp == dist.get_world_size():
        return dist.group.WORLD
    if tp not in _tp_groups:
        _tp_groups[tp] = dist.new_group(ranks=list(range(tp)))
    return _tp_groups[tp]
