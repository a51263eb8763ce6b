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
weights, so a sharded layer and its reference always start from the same numbers.

run_layer_benchmark times those layers at several TP sizes and reports, per forward, the
collectives the f/g log saw (count and bytes) and the compute vs communication split.
"""

import copy
import statistics
import time
from dataclasses import asdict, dataclass

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from tpworkers import costmodel
from tpworkers.collectives import SweepCancelled
from tpworkers.devicegroup import DTYPES, ConfigError, DeviceGroup, check_dtype
from tpworkers.launcher import get_pool
from tpworkers.modelshapes import ModelShape
from tpworkers.reference_layers import MLP, Attention, TransformerLayer, attend
from tpworkers.tp_ops import CommLog, f, g, recording, tp_group


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
        out = full.out_features // tp
        rows = rows if rows is not None else slice(rank * out, (rank + 1) * out)
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
        if full.heads % tp:
            raise ValueError(f"{full.heads} heads are not divisible by TP={tp}")
        if full.kv_heads % tp and tp % full.kv_heads:
            raise ValueError(f"{full.kv_heads} KV heads neither divide nor are divisible by TP={tp}")
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


# ------------------------------------------------------------------ the layer benchmark

KINDS = {"mlp": "MLP", "attention": "attention block", "layer": "transformer layer"}


@dataclass(frozen=True)
class LayerBenchConfig:
    """One sharded layer kind timed at several TP sizes, on one pool of max(tp_sizes) ranks."""

    kinds: tuple[str, ...] = ("mlp", "attention", "layer")   # keys of KINDS
    tp_sizes: tuple[int, ...] = (1, 2, 4)
    hidden: int = 512            # h
    ffn: int = 2048              # MLP inner size
    heads: int = 8
    kv_heads: int = 4            # < heads: grouped-query attention
    batch: int = 1
    seq: int = 64                # tokens per forward = batch × seq
    dtype: str = "float32"
    warmup: int = 2
    iters: int = 5               # timed forwards per (tp, kind)
    backend: str = "gloo"
    device: str = "cpu"
    gpus: tuple[int, ...] = ()
    p2p: bool = True

    def shape(self) -> ModelShape:
        return ModelShape(hidden_size=self.hidden, num_hidden_layers=1, num_attention_heads=self.heads,
                          num_key_value_heads=self.kv_heads, intermediate_size=self.ffn, vocab_size=1,
                          name="layer benchmark")

    def device_group(self) -> DeviceGroup:
        return DeviceGroup(nproc=max(self.tp_sizes), backend=self.backend, device=self.device,
                           gpus=tuple(self.gpus), p2p=self.p2p)

    def validate(self) -> None:
        unknown = [kind for kind in self.kinds if kind not in KINDS]
        if unknown or not self.kinds:
            raise ConfigError(f"kinds must be some of {', '.join(KINDS)}, got {self.kinds}")
        if not self.tp_sizes or min(self.tp_sizes) < 1:
            raise ConfigError(f"tp_sizes must be positive, got {self.tp_sizes}")
        check_dtype(self.backend, self.device, self.dtype)
        if min(self.batch, self.seq, self.iters) < 1 or self.warmup < 0:
            raise ConfigError("batch, seq and iters must be at least 1 and warmup at least 0")
        if self.hidden % self.heads:
            raise ConfigError(f"hidden size {self.hidden} is not divisible by {self.heads} heads")
        if self.heads % self.kv_heads:
            raise ConfigError(f"{self.heads} heads are not divisible by {self.kv_heads} KV heads")
        for tp in self.tp_sizes:
            errors = costmodel.tp_constraint_errors(self.shape(), tp)
            if errors:
                raise ConfigError("; ".join(errors))
        self.device_group().validate()


@dataclass(frozen=True)
class LayerStep:
    """What the ranks run for one (tp, kind)."""

    config: LayerBenchConfig
    tp: int
    kind: str


@dataclass(frozen=True)
class LayerRecord:
    """One sharded forward, observed (times in µs: mean over iterations, slowest rank)."""

    tp: int
    kind: str
    tokens: int
    forward_us: float
    compute_us: float                   # forward − comm on that rank
    comm_us: float                      # inside the all-reduces of g
    collectives: int                    # all-reduces counted in one forward
    collective_bytes: tuple[int, ...]   # bytes of each
    bytes_moved: int                    # their sum

    def to_dict(self) -> dict:
        return asdict(self)


def run_layer_benchmark(config: LayerBenchConfig, on_record=None, should_stop=lambda: False,
                        timeout_s: float = 120.0) -> list[LayerRecord]:
    """Every (tp, kind) in turn; on_record(LayerRecord) in this process as each finishes."""
    config.validate()
    pool = get_pool(config.device_group())
    records = []
    for tp in config.tp_sizes:
        for kind in config.kinds:
            if should_stop():
                raise SweepCancelled(records)
            results = [r for r in pool.run(bench_layer, LayerStep(config, tp, kind), timeout_s) if r]
            totals = [statistics.fmean(totals) for totals, _, _ in results]
            slowest = totals.index(max(totals))
            comm = statistics.fmean(results[slowest][1])
            sizes = tuple(results[0][2])
            record = LayerRecord(tp=tp, kind=kind, tokens=config.batch * config.seq,
                                 forward_us=totals[slowest] * 1e6, compute_us=(totals[slowest] - comm) * 1e6,
                                 comm_us=comm * 1e6, collectives=len(sizes), collective_bytes=sizes,
                                 bytes_moved=sum(sizes))
            records.append(record)
            if on_record is not None:
                on_record(record)
    return records


def build_reference(kind: str, config: LayerBenchConfig) -> nn.Module:
    if kind == "mlp":
        return MLP(config.hidden, config.ffn)
    if kind == "attention":
        return Attention(config.hidden, config.heads, config.kv_heads)
    return TransformerLayer(config.hidden, config.ffn, config.heads, config.kv_heads)


def bench_layer(ctx, step: LayerStep):
    """Rank task: (forward seconds per iteration, comm seconds per iteration, bytes per all-reduce);
    None on ranks outside the TP group."""
    config = step.config
    group = tp_group(step.tp)
    if ctx.rank >= step.tp:
        return None
    dtype = DTYPES[config.dtype]
    torch.manual_seed(0)  # same full weights on every rank, then each keeps its slice
    layer = shard(build_reference(step.kind, config), group).to(ctx.device, dtype)
    x = torch.randn(config.batch, config.seq, config.hidden, generator=torch.Generator().manual_seed(1))
    x = x.to(ctx.device, dtype)                                            # [batch, seq, hidden]
    totals, comms = [], []
    with torch.no_grad():
        for _ in range(config.warmup):
            layer(x)
        for _ in range(config.iters):
            log = CommLog(ctx.device)
            with recording(log):
                log.synchronize()
                begin = time.perf_counter()
                layer(x)
                log.synchronize()
                totals.append(time.perf_counter() - begin)
            comms.append(log.seconds("forward"))
    return totals, comms, [call.bytes for call in log.calls]
