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

`observing` fills the same log from code the lab did not write (transformers' tp_plan, DTensor):
a torch dispatch mode sees every collective any library issues on this thread, whether through
`torch.distributed` (c10d) or functional collectives, waits for it and logs it the same way.
"""

from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
import torch.distributed as dist
from torch.utils._python_dispatch import TorchDispatchMode

from tpworkers.measure.timing import wall_seconds


@dataclass(frozen=True)
class CollectiveCall:
    op: str          # "all_reduce", "all_gather", ... (see _COLLECTIVE_OPS)
    phase: str       # "forward" or "backward"
    bytes: int       # size of the reduced tensor on one rank (nccl-tests S)
    seconds: float   # wall time around the call, device synchronized on both sides


@dataclass
class CommLog:
    """Collectives run through f and g while this log is being recorded into, or any
    collective run while it is being observed into (`observing`)."""

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


# Dispatcher ops that are collectives -> the lab's name for them. c10d ops are what
# torch.distributed calls run; _c10d_functional ops are what DTensor's redistribute runs.
_COLLECTIVE_OPS = {
    "c10d::allreduce_": "all_reduce", "_c10d_functional::all_reduce": "all_reduce",
    "c10d::allgather_": "all_gather", "c10d::_allgather_base_": "all_gather",
    "_c10d_functional::all_gather_into_tensor": "all_gather",
    "c10d::reduce_scatter_": "reduce_scatter", "c10d::_reduce_scatter_base_": "reduce_scatter",
    "_c10d_functional::reduce_scatter_tensor": "reduce_scatter",
    "c10d::alltoall_base_": "all_to_all", "_c10d_functional::all_to_all_single": "all_to_all",
    "c10d::broadcast_": "broadcast", "_c10d_functional::broadcast": "broadcast",
}


def _tensors(value) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for item in value for t in _tensors(item)]
    return []


def _to_completion(func, args, kwargs) -> tuple[object, list[torch.Tensor]]:
    """Run a collective op and wait for it: (what the op returned, its result tensors). A c10d
    op returns (tensors..., Work), and the Work is waited on; a functional op's tensor is waited
    on, so the caller's own wait later is immediate."""
    out = func(*args, **kwargs)
    if func.namespace == "c10d":
        out[-1].wait()
        return out, _tensors(out[:-1])
    return out, [torch.ops._c10d_functional.wait_tensor(out)]


class _CollectiveObserver(TorchDispatchMode):
    """Logs each collective op with the bytes of its result on this rank (nccl-tests S: the
    reduced tensor, the gathered output), timed to completion like an f/g call (wall_seconds)."""

    def __init__(self, log: CommLog, phase: str):
        super().__init__()
        self.log, self.phase = log, phase

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        op = _COLLECTIVE_OPS.get(func.name())
        if op is None:
            return func(*args, **(kwargs or {}))
        done = []
        seconds = wall_seconds(lambda: done.append(_to_completion(func, args, kwargs or {})), self.log.device)
        out, result = done[0]
        self.log.calls.append(CollectiveCall(op, self.phase, sum(t.numel() * t.element_size() for t in result),
                                             seconds))
        return out


@contextmanager
def observing(log: CommLog, phase: str = "forward"):
    """Append every collective this thread runs inside the block to `log`, whoever calls it.
    A dispatch mode belongs to its thread: the autograd engine's backward collectives are not
    seen, so observe a forward (the phase names what the block runs)."""
    with _CollectiveObserver(log, phase):
        yield log


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
