"""Tensor-parallel layers built on f and g, each sharded from an ordinary (unsharded) module.

Megatron-LM (Shoeybi et al. 2019, arXiv 1909.08053, §3):
  column-parallel linear  Y_i = X A_i            A split by output features; Y stays split
  row-parallel linear     Z = g(Σ_i Y_i B_i)     B split by input features; one all-reduce
  MLP        = column → GeLU → row                              one all-reduce forward (g),
  attention  = q, k, v column-split by heads → attention per head → o row-split: one all-reduce,
  so a transformer layer (attention + MLP) all-reduces twice per forward and twice per backward.
Grouped-query attention: each rank keeps KV heads / TP KV heads; when TP exceeds the KV heads,
each KV head is replicated on TP / KV ranks (ranks sharing a KV head hold a copy of it).

Each class takes the unsharded module and the TP process group and copies its own slice of the
weights, so a sharded layer and its reference always start from the same numbers. Which TP sizes
can split a layer is the cost model's rule (costmodel.tp_constraint_errors), the same one that
judges a whole model's TP size.

tpworkers.measure.layer_bench times these layers; `python -m tpworkers.measure.tp_layers` checks them: it shards
each kind at TP = 1, 2, 4 on CPU ranks and prints the largest difference from the unsharded
module, forward and input gradient, with the all-reduces f and g ran.
"""

import argparse
import copy

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from tpworkers.catalog import costmodel
from tpworkers.catalog.modelshapes import ModelShape
from tpworkers.measure.configs import KINDS
from tpworkers.measure.devicegroup import torch_dtype
from tpworkers.measure.launcher import ConfigError, DeviceGroup, get_pool, run_command
from tpworkers.measure.reference_layers import MLP, Attention, TransformerLayer, attend
from tpworkers.measure.tp_ops import CommLog, f, g, recording, tp_group


def _tp_rank_and_size(group) -> tuple[int, int]:
    return dist.get_rank(group), dist.get_world_size(group)


class ColumnParallelLinear(nn.Module):
    """Y_i = f(X) A_iᵀ + b_i: this rank's out_features / TP output features.

    `rows` picks which rows of the full weight [out, in] this rank keeps (default: the r-th of TP
    equal chunks). `enter_region=False` skips f when the caller already applied it once for several
    layers reading the same input (q, k and v), so the backward all-reduce happens once, not thrice.
    """

    def __init__(self, full: nn.Linear, group=None, rows: slice | None = None, enter_region: bool = True):
        super().__init__()
        rank, tp = _tp_rank_and_size(group)
        if rows is None:
            out, _ = costmodel.column_parallel_shard(full.out_features, tp, tokens_in_flight=0, dtype="float32")
            rows = slice(rank * out, (rank + 1) * out)
        self.group, self.enter_region = group, enter_region
        self.weight = nn.Parameter(full.weight.detach()[rows].clone())                 # [out/tp, in]
        self.bias = None if full.bias is None else nn.Parameter(full.bias.detach()[rows].clone())

    def forward(self, x):                                                  # x: [..., in], replicated
        x = f(x, self.group) if self.enter_region else x
        return F.linear(x, self.weight, self.bias)                         # [..., out/tp]


class RowParallelLinear(nn.Module):
    """Z = g(Σ_i X_i B_iᵀ) + b: this rank's in_features / TP input features; bias added once."""

    def __init__(self, full: nn.Linear, group=None):
        super().__init__()
        rank, tp = _tp_rank_and_size(group)
        width = full.in_features // tp
        self.group = group
        self.weight = nn.Parameter(full.weight.detach()[:, rank * width:(rank + 1) * width].clone())  # [out, in/tp]
        self.bias = None if full.bias is None else nn.Parameter(full.bias.detach().clone())

    def forward(self, x):                                                  # x: [..., in/tp]
        z = g(F.linear(x, self.weight), self.group)                        # [..., out], summed
        return z if self.bias is None else z + self.bias


class TPMLP(nn.Module):
    def __init__(self, full: MLP, group=None):
        super().__init__()
        self.fc1 = ColumnParallelLinear(full.fc1, group)
        self.fc2 = RowParallelLinear(full.fc2, group)

    def forward(self, x):                                                  # [b, s, hidden]
        return self.fc2(F.gelu(self.fc1(x)))                               # via [b, s, ffn/tp]


class TPAttention(nn.Module):
    """Heads split across ranks: heads / TP query heads and their KV heads on each rank."""

    def __init__(self, full: Attention, group=None):
        super().__init__()
        rank, tp = _tp_rank_and_size(group)
        # Attention alone has no FFN, so intermediate_size=0 leaves only the head rules to judge.
        shape = ModelShape(hidden_size=full.heads * full.head_dim, num_hidden_layers=1,
                           num_attention_heads=full.heads, num_key_value_heads=full.kv_heads,
                           intermediate_size=0, vocab_size=1, name="attention block")
        errors = costmodel.tp_constraint_errors(shape, tp)
        if errors:
            raise ValueError("; ".join(errors))
        d = full.head_dim
        self.group, self.head_dim = group, d
        self.heads = full.heads // tp
        self.kv_heads = max(full.kv_heads // tp, 1)
        first_kv = rank * self.kv_heads if full.kv_heads >= tp else rank // (tp // full.kv_heads)
        kv_rows = slice(first_kv * d, (first_kv + self.kv_heads) * d)
        self.q = ColumnParallelLinear(full.q, group, enter_region=False)
        self.k = ColumnParallelLinear(full.k, group, rows=kv_rows, enter_region=False)
        self.v = ColumnParallelLinear(full.v, group, rows=kv_rows, enter_region=False)
        self.o = RowParallelLinear(full.o, group)

    def forward(self, x):                                                  # [b, s, hidden]
        x = f(x, self.group)
        heads = attend(self.q(x), self.k(x), self.v(x), self.heads, self.kv_heads, self.head_dim)
        return self.o(heads)                                               # from [b, s, heads/tp·d]


class TPTransformerLayer(nn.Module):
    """Norms replicated on every rank; attention and MLP sharded: two all-reduces per forward."""

    def __init__(self, full: TransformerLayer, group=None):
        super().__init__()
        self.norm1, self.norm2 = copy.deepcopy(full.norm1), copy.deepcopy(full.norm2)
        self.attention = TPAttention(full.attention, group)
        self.mlp = TPMLP(full.mlp, group)

    def forward(self, x):
        x = x + self.attention(self.norm1(x))
        return x + self.mlp(self.norm2(x))


SHARDED = {MLP: TPMLP, Attention: TPAttention, TransformerLayer: TPTransformerLayer}


def shard(full: nn.Module, group=None) -> nn.Module:
    """The tensor-parallel twin of `full` for this rank of `group`."""
    return SHARDED[type(full)](full, group)


def build_reference(kind: str, hidden: int, ffn: int, heads: int, kv_heads: int) -> nn.Module:
    """The unsharded module of a kind in KINDS."""
    if kind == "mlp":
        return MLP(hidden, ffn)
    if kind == "attention":
        return Attention(hidden, heads, kv_heads)
    return TransformerLayer(hidden, ffn, heads, kv_heads)


# ------------------------------------------------------------------ command line: check the shards

def _sharded_and_full(ctx, kind: str, tp: int, dims: tuple, dtype: torch.dtype):
    """Rank task body: the same input through the full layer and its TP shard (in `dtype` on the
    rank's device), forward and backward. None off the TP group."""
    group = tp_group(tp)
    if ctx.rank >= tp:
        return None
    torch.manual_seed(0)
    full = build_reference(kind, *dims).to(ctx.device, dtype)
    sharded = shard(full, group)
    x = torch.randn(2, 8, dims[0], dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    x = x.to(ctx.device, dtype)                                            # [batch 2, seq 8, hidden]
    x_full, x_tp = x.clone().requires_grad_(), x.clone().requires_grad_()
    full_out = full(x_full)
    full_out.sum().backward()
    log = CommLog(ctx.device)
    with recording(log):
        out = sharded(x_tp)
        out.sum().backward()
    return out.detach(), full_out.detach(), x_tp.grad, x_full.grad, log


def max_difference(ctx, payload) -> tuple[float, float, int, int] | None:
    """Rank task: (max |sharded - full| of the output, of the input gradient, forward all-reduces,
    backward all-reduces) in float64 on the rank's device for one kind at one TP size; None off
    the TP group."""
    kind, tp, dims = payload
    compared = _sharded_and_full(ctx, kind, tp, dims, torch.float64)
    if compared is None:
        return None
    out, full_out, grad, full_grad, log = compared
    return (float((out - full_out).abs().max()), float((grad - full_grad).abs().max()),
            len(log.select("forward")), len(log.select("backward")))


def relative_difference(ctx, payload) -> tuple[float, float] | None:
    """Rank task: max |sharded - full| / max |full| of the output and of the input gradient, in
    the dtype named in the payload (the GPU check runs float32 and bfloat16); None off the group."""
    kind, tp, dims, dtype = payload
    compared = _sharded_and_full(ctx, kind, tp, dims, torch_dtype(dtype))
    if compared is None:
        return None
    out, full_out, grad, full_grad, _ = compared

    def relative(a, b) -> float:
        return float((a.float() - b.float()).abs().max() / b.float().abs().max().clamp_min(1e-30))

    return relative(out, full_out), relative(grad, full_grad)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tpworkers.measure.tp_layers", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--ffn", type=int, default=256)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--kv-heads", type=int, default=4)
    args = parser.parse_args(argv)
    dims = (args.hidden, args.ffn, args.heads, args.kv_heads)

    def check() -> int:
        for kind in KINDS:  # refuse impossible dimensions here, before any rank starts
            try:
                build_reference(kind, *dims)
            except ValueError as error:
                raise ConfigError(str(error)) from None
        print(f"# hidden {args.hidden}, FFN {args.ffn}, {args.heads} heads / {args.kv_heads} KV heads, float64 on CPU")
        print(f"# {'kind':<18} {'TP':>3} {'max |Δ out|':>12} {'max |Δ dx|':>12} {'all-reduces fwd/bwd':>20}")
        pool = get_pool(DeviceGroup(nproc=4))
        for kind in KINDS:
            for tp in (1, 2, 4):
                out, grad, forward, backward = next(r for r in pool.run(max_difference, (kind, tp, dims)) if r)
                print(f"  {KINDS[kind]:<18} {tp:>3} {out:>12.2e} {grad:>12.2e} {f'{forward}/{backward}':>20}")
        return 0

    return run_command(check)


if __name__ == "__main__":
    raise SystemExit(main())
