"""What an experiment is asked to do: the config dataclasses of the collective sweep, the decode
step and the layer benchmark, with their limits and validation. Torch-free, so the web process
can build, estimate and refuse a run without importing torch; the torch code that runs a config
lives beside it (collectives/, decode_comm/, layer_bench.py).

The #wrong check's bound lives here too: the check pattern x_r(i) = (i mod 5) + r + 1 keeps
every partial sum an integer, and a dtype with p bits of significand holds every integer up to
2^p exactly, so a sum can be compared bit for bit while its peak stays within 2^p
(tpworkers.measure.collectives.check does the comparing).
"""

import dataclasses
from dataclasses import dataclass

from tpworkers.catalog import costmodel
from tpworkers.catalog.links import LINKS
from tpworkers.catalog.modelshapes import ModelShape, get_model
from tpworkers.catalog.sizes import binary_size, format_size, sweep_sizes
from tpworkers.measure.devicegroup import DTYPES, ConfigError, DeviceGroup, check_dtype

KINDS = {"mlp": "MLP", "attention": "attention block", "layer": "transformer layer"}

CHUNK = 1 << 20                     # elements per step of filling or checking
# Scratch per rank: two int64 index buffers (one takes the misses) and the expected values in
# the dtype (≤ 4 B) = 20 B per element, rounded up to 24 for the allocator and the 0-d sums.
CHUNK_BYTES = CHUNK * 24
REDUCING = ("all_reduce", "reduce_scatter")


# Significand precision p in bits (IEEE 754 binary32 and binary16; bfloat16 keeps binary32's
# exponent with 8 bits of precision). tests/test_collective_check.py checks these against torch.finfo.
SIGNIFICAND_BITS = {"float32": 24, "float16": 11, "bfloat16": 8}


def exact_integer_limit(dtype: str) -> int:
    """2^p: every integer from 0 to this is exactly representable in `dtype`."""
    return 2 ** SIGNIFICAND_BITS[dtype]


def pattern_peak(op: str, nranks: int) -> int:
    """The largest value any buffer or partial sum of `op` holds with this pattern."""
    if op in REDUCING:
        return 4 * nranks + nranks * (nranks + 1) // 2
    return nranks + 4


def exactness_error(op: str, nranks: int, dtype: str) -> str | None:
    """Why #wrong could report false alarms for `op` on `nranks` ranks in `dtype` (None: exact)."""
    peak, limit = pattern_peak(op, nranks), exact_integer_limit(dtype)
    if peak <= limit:
        return None
    return (f"{op} on {nranks} ranks in {dtype} cannot be checked exactly: the check pattern's "
            f"sums reach {peak}, but {dtype} holds integers exactly only up to {limit}; "
            "use fewer ranks or a wider dtype")


OPS = ("all_reduce", "all_gather", "reduce_scatter", "broadcast")
MAX_BYTES = {"cpu": 1 << 30, "cuda": 16 << 30}  # largest buffer a sweep may ask for, per device

@dataclass(frozen=True)
class SweepConfig:
    """One sweep: which collective, on which ranks, over which sizes."""

    op: str = "all_reduce"       # one of OPS
    nproc: int = 2               # ranks (world size)
    backend: str = "gloo"        # "gloo" or "nccl"
    device: str = "cpu"          # "cpu" or "cuda"
    gpus: tuple[int, ...] = ()   # GPU index per rank on CUDA, e.g. (2, 3)
    min_bytes: int = 1024        # -b
    max_bytes: int = 64 << 20    # -e
    factor: int = 4              # -f: next size = size × factor
    dtype: str = "float32"       # float32, bfloat16 or float16
    warmup: int = 2              # -w: untimed iterations per size
    iters: int = 10              # -n: timed iterations per size
    p2p: bool = True             # False: NCCL_P2P_DISABLE=1, NCCL_NVLS_ENABLE=0 (slower wire)

    # What a run from the web may ask for (the command line may go up to MAX_BYTES): larger
    # sweeps belong to nccl-tests, not a teaching lab, and more sizes make a page nobody reads.
    LAB_MAX_BYTES = 256 << 20
    LAB_MAX_SIZES = 24
    PARAMS = ("op", "nproc", "min_bytes", "max_bytes", "factor", "dtype", "warmup", "iters")

    @classmethod
    def from_params(cls, params: dict, device: dict | None = None) -> "SweepConfig":
        """From a run's stored parameters (to_params) and the device fields the node chose."""
        fields = {name: params[name] if name in ("op", "dtype") else int(params[name]) for name in cls.PARAMS}
        return cls(**fields, **(device or {}))

    def to_params(self) -> dict:
        """What a run stores: the sweep's own fields; sizes and labels are derived, never stored."""
        return {name: getattr(self, name) for name in self.PARAMS}

    def sizes(self) -> list[int]:
        """S of every row: min, min·f, ... up to max (nccl-tests -b/-e/-f)."""
        return sweep_sizes(self.min_bytes, self.max_bytes, self.factor)

    def row_labels(self) -> list[str]:
        return [binary_size(size) for size in self.sizes()]

    def lab_limit_errors(self) -> dict[str, str]:
        """field -> why a run from the web may not ask for this sweep (empty: it may)."""
        if self.max_bytes > self.LAB_MAX_BYTES:
            return {"max_bytes": f"at most {binary_size(self.LAB_MAX_BYTES)} per rank"}
        if len(self.sizes()) > self.LAB_MAX_SIZES:
            return {"factor": f"this sweep has more than {self.LAB_MAX_SIZES} sizes: raise the factor"}
        return {}

    def device_group(self) -> DeviceGroup:
        return DeviceGroup(nproc=self.nproc, backend=self.backend, device=self.device,
                           gpus=tuple(self.gpus), p2p=self.p2p)

    def element_counts(self) -> list[int]:
        """Elements per size, rounded down (as nccl-tests does) to a multiple of nproc for
        all-gather and reduce-scatter, whose S is split evenly across ranks."""
        elem = DTYPES[self.dtype]
        per = self.nproc if self.op in ("all_gather", "reduce_scatter") else 1
        return [size // (elem * per) * per for size in self.sizes()]

    def validate(self) -> None:
        """ConfigError naming the first violated constraint; nothing is started."""
        if self.op not in OPS:
            raise ConfigError(f"op must be one of {', '.join(OPS)}, got {self.op!r}")
        check_dtype(self.backend, self.device, self.dtype)
        if self.factor < 2:
            raise ConfigError(f"factor must be an integer >= 2, got {self.factor}")
        if self.warmup < 0 or self.iters < 1:
            raise ConfigError(f"need warmup >= 0 and iters >= 1, got warmup={self.warmup}, iters={self.iters}")
        if self.max_bytes < self.min_bytes:
            raise ConfigError(f"max_bytes={self.max_bytes} is below min_bytes={self.min_bytes}")
        limit = MAX_BYTES.get(self.device, MAX_BYTES["cpu"])
        if self.max_bytes > limit:
            raise ConfigError(f"max_bytes={format_size(self.max_bytes)} is above the "
                              f"{format_size(limit)} limit on {self.device}")
        inexact = exactness_error(self.op, self.nproc, self.dtype)
        if inexact:
            raise ConfigError(inexact)
        self.device_group().validate()
        smallest = DTYPES[self.dtype] * (self.nproc if self.op in ("all_gather", "reduce_scatter") else 1)
        if self.min_bytes < smallest:
            raise ConfigError(f"min_bytes={self.min_bytes} is below one {self.dtype} element per rank: "
                              f"{self.op} on {self.nproc} ranks needs min_bytes >= {smallest}")
        self.device_group().check_memory(rank_buffer_bytes(self.op, self.max_bytes, self.nproc, self.backend),
                                         f"{self.op} at {format_size(self.max_bytes)}")


def rank_buffer_bytes(op: str, size: int, nranks: int, backend: str) -> int:
    """Peak buffer bytes one rank holds while measuring size S: S for all-reduce and broadcast
    (in place; the timing buffer is freed before the checking one exists), S + S/n for all-gather
    and reduce-scatter (send and receive buffers), plus the check's fixed scratch. Gloo's
    all_gather_single and reduce_scatter_single stage the whole message through one more buffer
    of S (seen as the ranks' peak resident memory on torch 2.13)."""
    split = op in ("all_gather", "reduce_scatter")
    staging = size if split and backend == "gloo" else 0
    return size + (size // nranks if split else 0) + staging + CHUNK_BYTES


FIT_SPAN = 16  # the fit sweep runs S/16 .. 16·S, factor 4: five sizes around the decode message


@dataclass(frozen=True)
class DecodeCommConfig:
    """Which model shape decodes on which TP group; `link` only feeds the catalog prediction."""

    model: str = "llama-3.1-70b"   # catalog name or HF id (tpworkers.catalog.modelshapes)
    tp: int = 2                    # ranks in the TP group
    tokens_in_flight: int = 8      # b: sequences decoding together, one new token each per step
    dtype: str = "bfloat16"        # activation dtype
    link: str | None = None        # tpworkers.catalog.links key; None: the link this group should have
    layers: int | None = None      # L override (None: the model's); fewer layers, same per-call size
    steps: int = 5                 # timed decode steps
    warmup: int = 1                # untimed steps first
    fit_iters: int = 5             # timed calls per size of the α, B fit sweep
    backend: str = "gloo"
    device: str = "cpu"
    gpus: tuple[int, ...] = ()
    p2p: bool = True

    def shape(self) -> ModelShape:
        shape = get_model(self.model)
        return shape if self.layers is None else dataclasses.replace(shape, num_hidden_layers=self.layers)

    def device_group(self) -> DeviceGroup:
        return DeviceGroup(nproc=self.tp, backend=self.backend, device=self.device,
                           gpus=tuple(self.gpus), p2p=self.p2p)

    def message_bytes(self) -> int:
        return self.tokens_in_flight * self.shape().hidden_size * DTYPES[self.dtype]

    def fit_sweep(self) -> SweepConfig:
        """All-reduce sizes S/16 .. 16·S on the same device group and dtype."""
        size, element = self.message_bytes(), DTYPES[self.dtype]
        smallest = max(element, size // FIT_SPAN // element * element)
        return SweepConfig(op="all_reduce", nproc=self.tp, backend=self.backend, device=self.device,
                           gpus=tuple(self.gpus), p2p=self.p2p, min_bytes=smallest, max_bytes=size * FIT_SPAN,
                           factor=4, dtype=self.dtype, warmup=2, iters=self.fit_iters)

    def validate(self) -> None:
        """ConfigError naming the first violated constraint; nothing is started."""
        try:
            shape = self.shape()
        except ValueError as error:
            raise ConfigError(str(error)) from None
        if self.tp < 2:
            raise ConfigError(f"TP={self.tp} has no communication to measure; choose TP >= 2")
        errors = costmodel.tp_constraint_errors(shape, self.tp)
        if errors:
            raise ConfigError("; ".join(errors))
        if self.link is not None and self.link not in LINKS:
            raise ConfigError(f"link must be one of {', '.join(LINKS)}, got {self.link!r}")
        check_dtype(self.backend, self.device, self.dtype)
        if min(self.tokens_in_flight, self.steps, self.fit_iters, shape.num_hidden_layers) < 1 or self.warmup < 0:
            raise ConfigError("tokens_in_flight, steps, fit_iters and layers must be at least 1, warmup at least 0")
        self.fit_sweep().validate()   # the device group, and memory for the largest fit size


@dataclass(frozen=True)
class LayerBenchConfig:
    """Sharded layer kinds timed at several TP sizes, on one pool of max(tp_sizes) ranks."""

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
        """ConfigError naming the first violated constraint; nothing is started."""
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
