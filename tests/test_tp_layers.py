"""Sharded layers equal their unsharded module and PyTorch's own TP, forward and backward, and
the number of all-reduces per forward/backward is observed through f and g."""

import copy

import pytest
import torch
import torch.distributed as dist
from torch.testing import assert_close

from tpworkers.catalog import costmodel
from tpworkers.measure import layer_bench
from tpworkers.measure import tp_layers
from tpworkers.measure.launcher import ConfigError, DeviceGroup, SweepCancelled, get_pool, shutdown_pool
from tpworkers.measure.layer_bench import run_layer_benchmark
from tpworkers.measure.configs import LayerBenchConfig
from tpworkers.catalog.modelshapes import ModelShape
from tpworkers.measure.reference_layers import MLP, Attention, TransformerLayer
from tpworkers.measure.tp_layers import shard
from tpworkers.measure.tp_ops import CommLog, recording, tp_group

FOUR_RANKS = DeviceGroup(nproc=4)
HIDDEN, FFN, HEADS, BATCH, SEQ = 32, 64, 8, 2, 5


@pytest.fixture(scope="module", autouse=True)
def _stop_pool_after_module():
    yield
    shutdown_pool()


def _reference(kind: str, kv_heads: int):
    torch.manual_seed(0)
    module = {"mlp": lambda: MLP(HIDDEN, FFN),
              "attention": lambda: Attention(HIDDEN, HEADS, kv_heads),
              "layer": lambda: TransformerLayer(HIDDEN, FFN, HEADS, kv_heads)}[kind]()
    return module.double()


def _inputs():
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(BATCH, SEQ, HIDDEN, generator=generator, dtype=torch.float64)
    upstream = torch.randn(BATCH, SEQ, HIDDEN, generator=generator, dtype=torch.float64)  # dL/dout
    return x, upstream


def _compare_with_unsharded(ctx, payload):
    """Rank task: forward, input grad and every weight grad of the shard vs the full module.
    Returns (forward all-reduces, backward all-reduces) seen by this rank; None off the group."""
    kind, tp, kv_heads = payload
    group = tp_group(tp)
    if ctx.rank >= tp:
        return None
    full = _reference(kind, kv_heads)
    sharded = shard(full, group)
    x, upstream = _inputs()
    x_full, x_tp = x.clone().requires_grad_(), x.clone().requires_grad_()
    full(x_full).backward(upstream)
    log = CommLog(ctx.device)
    with recording(log):
        out = sharded(x_tp)
        out.backward(upstream)
    assert_close(out, full(x))
    assert_close(x_tp.grad, x_full.grad)
    # Cutting a copy of the full module whose weights ARE its gradients gives, parameter by
    # parameter, exactly the slice of the full gradient this rank's shard must hold.
    grads_of_full = copy.deepcopy(full)
    for param, source in zip(grads_of_full.parameters(), full.parameters()):
        param.data = source.grad.clone()
    expected = dict(shard(grads_of_full, group).named_parameters())
    for name, param in sharded.named_parameters():
        grad = param.grad
        if kv_heads < tp and name.split(".")[-2] in ("k", "v"):
            grad = _sum_over_kv_replicas(grad, tp, kv_heads, group)
        assert_close(grad, expected[name].data, msg=f"gradient of {name} at TP={tp}")
    return len(log.select("forward")), len(log.select("backward"))


def _sum_over_kv_replicas(grad, tp, kv_heads, group):
    """Ranks sharing a replicated KV head each hold part of its gradient; add the replicas."""
    gathered = [torch.empty_like(grad) for _ in range(tp)]
    dist.all_gather(gathered, grad, group=group)
    replicas = tp // kv_heads
    mine = dist.get_rank(group) // replicas
    return sum(gathered[r] for r in range(tp) if r // replicas == mine)


@pytest.mark.parametrize(
    "kind, kv_heads, forward_allreduces",
    [("mlp", 4, 1), ("attention", 4, 1), ("attention", 2, 1), ("layer", 4, 2)],
    ids=["mlp", "attention-gqa", "attention-kv-replicated-at-tp4", "transformer-layer"],
)
def test_it_matches_the_unsharded_module_at_tp_1_2_4(kind, kv_heads, forward_allreduces):
    pool = get_pool(FOUR_RANKS)
    for tp in (1, 2, 4):
        counts = [c for c in pool.run(_compare_with_unsharded, (kind, tp, kv_heads)) if c is not None]
        assert len(counts) == tp
        expected = (0, 0) if tp == 1 else (forward_allreduces, forward_allreduces)
        assert set(counts) == {expected}, f"TP={tp}"


TORCH_TP_PLANS = {
    "mlp": lambda ColwiseParallel, RowwiseParallel: {"fc1": ColwiseParallel(), "fc2": RowwiseParallel()},
    "attention": lambda ColwiseParallel, RowwiseParallel: {
        "q": ColwiseParallel(), "k": ColwiseParallel(), "v": ColwiseParallel(), "o": RowwiseParallel()},
}


def _compare_with_torch_tensor_parallel(ctx, payload):
    """Rank task: our sharded layer vs parallelize_module on the same weights, in TP groups of
    `tp` ranks (a (world/tp) × tp device mesh: at TP=2 ranks {0,1} and {2,3} each form a group).
    Attention's q, k, v are Colwise and o Rowwise; torch's plan leaves the module's head counts to
    the caller (its TP tutorial sets them per rank), so the copy gets heads/tp and kv_heads/tp."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor.parallel import ColwiseParallel, RowwiseParallel, parallelize_module

    kind, tp = payload
    mesh = init_device_mesh("cpu", (ctx.world_size // tp, tp), mesh_dim_names=("replica", "tp"))["tp"]
    full = _reference(kind, kv_heads=4)
    theirs = parallelize_module(copy.deepcopy(full), mesh, TORCH_TP_PLANS[kind](ColwiseParallel, RowwiseParallel))
    if kind == "attention":
        theirs.heads, theirs.kv_heads = full.heads // tp, full.kv_heads // tp
    ours = shard(full, mesh.get_group())
    x, upstream = _inputs()
    x_ours, x_theirs = x.clone().requires_grad_(), x.clone().requires_grad_()
    out_ours, out_theirs = ours(x_ours), theirs(x_theirs)
    out_ours.backward(upstream)
    out_theirs.backward(upstream)
    assert_close(out_ours, out_theirs)
    assert_close(x_ours.grad, x_theirs.grad)
    their_params = dict(theirs.named_parameters())
    for name, param in ours.named_parameters():
        assert_close(param.grad, their_params[name].grad.to_local(), msg=f"gradient of {name} at TP={tp}")
    return {name: tuple(param.shape) for name, param in ours.named_parameters() if name.endswith("weight")}


@pytest.mark.parametrize("kind", ["mlp", "attention"])
@pytest.mark.parametrize("tp", [2, 4])
def test_it_matches_torch_distributed_tensor_parallel_on_the_same_weights(kind, tp):
    shapes = get_pool(FOUR_RANKS).run(_compare_with_torch_tensor_parallel, (kind, tp))
    head_dim = HIDDEN // HEADS
    expected = ({"fc1.weight": (FFN // tp, HIDDEN), "fc2.weight": (HIDDEN, FFN // tp)} if kind == "mlp" else
                {"q.weight": (HEADS // tp * head_dim, HIDDEN), "k.weight": (4 // tp * head_dim, HIDDEN),
                 "v.weight": (4 // tp * head_dim, HIDDEN), "o.weight": (HIDDEN, HEADS // tp * head_dim)})
    assert shapes == [expected] * 4


TINY = dict(hidden=64, ffn=128, heads=8, kv_heads=4, batch=1, seq=8, warmup=1, iters=2)


def test_it_observes_two_allreduces_per_transformer_layer_forward():
    seen = []
    result = run_layer_benchmark(LayerBenchConfig(tp_sizes=(1, 2, 4), **TINY), on_record=seen.append)
    assert seen == result.records
    observed = {(r.tp, r.kind): r.collectives for r in result.records}
    assert observed == {(1, "mlp"): 0, (1, "attention"): 0, (1, "layer"): 0,
                        (2, "mlp"): 1, (2, "attention"): 1, (2, "layer"): 2,
                        (4, "mlp"): 1, (4, "attention"): 1, (4, "layer"): 2}
    each = costmodel.allreduce_bytes(TINY["hidden"], TINY["batch"] * TINY["seq"], "float32")
    for r in result.records:
        assert r.collective_bytes == (each,) * r.collectives
        assert r.bytes_moved == r.collectives * each
        assert 0 <= r.comm_us <= r.forward_us
        assert (r.comm_us > 0) == (r.tp > 1)
    assert result.transport is None  # gloo: no NCCL log to read


def test_it_stops_the_layer_benchmark_between_steps():
    calls = []
    with pytest.raises(SweepCancelled) as cancelled:
        run_layer_benchmark(LayerBenchConfig(tp_sizes=(1, 4), **TINY),
                            should_stop=lambda: calls.append(1) or len(calls) > 1)
    assert [(r.tp, r.kind) for r in cancelled.value.measurements] == [(1, "mlp")]


@pytest.mark.parametrize(
    "changes, constraint",
    [(dict(tp_sizes=(3,)), "8 heads are not divisible by TP=3"),
     (dict(hidden=60), "hidden size 60 is not divisible by 8 heads"),
     (dict(ffn=130, tp_sizes=(4,)), "FFN size 130 is not divisible by TP=4"),
     (dict(kv_heads=3), "8 heads are not divisible by 3 KV heads"),
     (dict(kinds=("moe",)), "kinds must be some of"),
     (dict(dtype="int8"), "dtype must be one of"),
     (dict(tp_sizes=(1, 64)), "TP=64 exceeds the 8 attention heads")],
)
def test_it_refuses_impossible_layer_benchmarks_before_starting_any_process(monkeypatch, changes, constraint):
    monkeypatch.setattr(layer_bench, "get_pool", lambda group: pytest.fail("a pool was started"))
    with pytest.raises(ConfigError, match=constraint):
        run_layer_benchmark(LayerBenchConfig(**{**TINY, **changes}))


def _shard_attention_at_tp3(ctx, payload):
    """Rank task: the error TPAttention raises for 8 heads on a 3-rank group (None off the group)."""
    group = tp_group(3)
    if ctx.rank >= 3:
        return None
    with pytest.raises(ValueError) as error:
        shard(Attention(HIDDEN, HEADS, 4), group)
    return str(error.value)


def test_it_refuses_to_shard_attention_by_the_cost_models_rule():
    shape = ModelShape(hidden_size=HIDDEN, num_hidden_layers=1, num_attention_heads=HEADS,
                                 num_key_value_heads=4, intermediate_size=0, vocab_size=1)
    messages = [m for m in get_pool(FOUR_RANKS).run(_shard_attention_at_tp3) if m is not None]
    assert messages == ["; ".join(costmodel.tp_constraint_errors(shape, 3))] * 3


def test_it_prints_a_table_of_the_layer_benchmark(capsys):
    assert layer_bench.main(["--kinds", "mlp,attention", "--tp", "1,2", "--hidden", "64", "--ffn", "128",
                             "--seq", "8", "-w", "0", "-n", "1"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines() if not line.startswith("#")]
    each = str(int(costmodel.allreduce_bytes(64, 8, "float32")))
    assert [(row[0], row[-8], row[-2], row[-1]) for row in rows] == [
        ("MLP", "1", "0", "0"), ("attention", "1", "0", "0"), ("MLP", "2", "1", each), ("attention", "2", "1", each)]


def test_it_refuses_a_malformed_tp_list_on_the_command_line(capsys):
    with pytest.raises(SystemExit):
        layer_bench.parse_args(["--tp", "1,two"])
    assert "argument --tp: expected whole numbers" in capsys.readouterr().err


def test_it_checks_every_shard_against_its_unsharded_module_from_the_command_line(capsys):
    assert tp_layers.main([]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines() if not line.startswith("#")]
    assert len(rows) == 9
    assert all(float(row[-3]) < 1e-12 and float(row[-2]) < 1e-12 for row in rows)


def test_it_refuses_impossible_shard_dimensions_before_any_rank_starts(capsys, monkeypatch):
    monkeypatch.setattr(tp_layers, "get_pool", lambda group: pytest.fail("no pool for refused dimensions"))
    assert tp_layers.main(["--heads", "6"]) == 2
    captured = capsys.readouterr()
    assert "hidden=64, heads=6" in captured.err and captured.out == ""
