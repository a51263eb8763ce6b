"""The CUDA paths: NCCL sweeps, gloo over CUDA tensors, a TP=2 MLP on GPUs, the transport NCCL
reports, peak GPU memory. Each test needs some number of GPUs and is skipped, saying how many it
needs and how many torch sees, on a machine with fewer."""

import pytest
import torch

from tpworkers.measure.collectives import SizeStep, measure_size, run_sweep
from tpworkers.measure.configs import OPS, SweepConfig, rank_buffer_bytes
from tpworkers.measure.collectives.__main__ import main as sweep_main
from tpworkers.measure.decode_comm import run_decode_comm
from tpworkers.measure.configs import DecodeCommConfig
from tpworkers.measure.launcher import DeviceGroup, get_pool, shutdown_pool
from tpworkers.measure.layer_bench import run_layer_benchmark
from tpworkers.measure.configs import LayerBenchConfig
from tpworkers.measure.tp_layers import max_difference

GPUS = torch.cuda.device_count() if torch.cuda.is_available() else 0
SIZES = dict(min_bytes=1 << 10, max_bytes=1 << 20, factor=32, warmup=1, iters=3)
DIMS = (64, 256, 8, 4)  # hidden, FFN, heads, KV heads


def needs_gpus(count: int):
    return pytest.mark.skipif(GPUS < count, reason=f"needs {count} CUDA GPU(s); torch sees {GPUS}")


@pytest.fixture(scope="module", autouse=True)
def _stop_pool_after_module():
    yield
    shutdown_pool()


def _nccl(nproc: int, **changes) -> dict:
    return dict(nproc=nproc, backend="nccl", device="cuda", gpus=tuple(range(nproc)), **changes)


@needs_gpus(1)
@pytest.mark.parametrize("op", OPS)
def test_it_sweeps_every_op_with_nccl_on_one_gpu(op):
    config = SweepConfig(op=op, **_nccl(1), **SIZES)
    result = run_sweep(config)
    assert [m.size_bytes for m in result.measurements] == config.sizes()
    assert all(m.wrong == 0 for m in result.measurements)


@needs_gpus(2)
@pytest.mark.parametrize("op", OPS)
def test_it_sweeps_every_op_with_nccl_on_two_gpus_and_records_the_transport(op):
    result = run_sweep(SweepConfig(op=op, **_nccl(2), **SIZES))
    assert all(m.wrong == 0 and m.busbw_GBps > 0 for m in result.measurements)
    assert result.transport, "NCCL_DEBUG=INFO should have named a transport"


@needs_gpus(2)
def test_it_keeps_nccl_off_p2p_with_the_no_p2p_preset():
    result = run_sweep(SweepConfig(**_nccl(2, p2p=False), **SIZES))
    assert all(m.wrong == 0 for m in result.measurements)
    assert "SHM" in result.transport and "P2P" not in result.transport


@needs_gpus(1)
def test_it_runs_gloo_over_cuda_tensors_with_two_ranks_on_one_gpu():
    config = SweepConfig(nproc=2, backend="gloo", device="cuda", gpus=(0, 0), **SIZES)
    result = run_sweep(config)
    assert all(m.wrong == 0 for m in result.measurements) and result.transport is None


@needs_gpus(1)
def test_it_shards_an_mlp_at_tp2_on_cuda_with_gloo():
    pool = get_pool(DeviceGroup(nproc=2, backend="gloo", device="cuda", gpus=(0, 0)))
    for out_error, grad_error, forward, backward in pool.run(max_difference, ("mlp", 2, DIMS)):
        assert out_error < 1e-10 and grad_error < 1e-10 and (forward, backward) == (1, 1)


@needs_gpus(2)
def test_it_shards_an_mlp_at_tp2_on_two_gpus_with_nccl():
    pool = get_pool(DeviceGroup(**_nccl(2)))
    for out_error, grad_error, forward, backward in pool.run(max_difference, ("mlp", 2, DIMS)):
        assert out_error < 1e-10 and grad_error < 1e-10 and (forward, backward) == (1, 1)
    result = run_layer_benchmark(LayerBenchConfig(kinds=("mlp",), tp_sizes=(1, 2), hidden=64, ffn=256, seq=8,
                                                  iters=2, **_nccl(2)))
    assert [r.collectives for r in result.records] == [0, 1]
    assert result.transport


def _peak_gpu_bytes_while_measuring(ctx, step):
    """Rank task: the most tensor memory measuring one size held at once, beyond what was there."""
    before = torch.cuda.memory_allocated(ctx.device)
    torch.cuda.reset_peak_memory_stats(ctx.device)
    _, wrong = measure_size(ctx, step)
    return torch.cuda.max_memory_allocated(ctx.device) - before, wrong


@needs_gpus(1)
@pytest.mark.parametrize("op", ["all_reduce", "all_gather"])
def test_it_keeps_peak_gpu_memory_within_the_validated_budget(op):
    size = 256 << 20
    step = SizeStep(op, size // 4, "float32", warmup=1, iters=2)
    ((peak, wrong),) = get_pool(DeviceGroup(**_nccl(1))).run(_peak_gpu_bytes_while_measuring, step)
    budget = rank_buffer_bytes(op, size, 1, "nccl")
    assert wrong == 0
    assert peak <= budget, f"peak {peak} B over the budget {budget} B by {peak - budget} B"


@needs_gpus(2)
def test_it_decodes_on_two_gpus_and_names_the_link_it_modelled():
    record = run_decode_comm(DecodeCommConfig(model="llama-3.1-8b", tp=2, tokens_in_flight=4, layers=2, steps=2,
                                              fit_iters=3, **_nccl(2)))
    assert record.transport and record.fit_wrong == 0
    assert record.fitted_us_per_token is not None or record.fit_error
    assert record.link_basis.startswith(("the NVLink a ", "no catalog link: "))


@needs_gpus(1)
def test_it_prints_an_nccl_sweep_when_a_gpu_is_named(capsys):
    assert sweep_main(["--nproc", "1", "--gpus", "0", "-b", "1K", "-e", "64K", "-f", "8", "-w", "1", "-n", "2"]) == 0
    out = capsys.readouterr().out
    assert "nccl on GPUs 0" in out and "# Out of bounds values : 0 OK" in out
