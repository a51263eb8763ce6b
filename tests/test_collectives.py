"""Collective sweeps: nccl-tests definitions, exact correctness checks, streaming, cancellation."""

import os
import resource

import pytest
import torch.distributed as dist

from tpworkers.measure import collectives
from tpworkers.catalog import costmodel
from tpworkers.measure import devicegroup
from tpworkers.measure.collectives import SizeStep, measure_size, run_sweep, summarise
from tpworkers.measure.configs import OPS, ConfigError, SweepConfig, rank_buffer_bytes
from tpworkers.measure.collectives.__main__ import main
from tpworkers.measure.launcher import SweepCancelled, get_pool, shutdown_pool

SMALL = dict(nproc=2, min_bytes=1024, max_bytes=16 << 10, factor=4, warmup=1, iters=3)


@pytest.fixture(scope="module", autouse=True)
def _stop_pool_after_module():
    yield
    shutdown_pool()


@pytest.mark.parametrize("op", OPS)
def test_it_measures_every_op_with_zero_wrong_elements(op):
    result = run_sweep(SweepConfig(op=op, **SMALL))
    assert [m.size_bytes for m in result.measurements] == [1024, 4096, 16384]
    for m in result.measurements:
        assert m.wrong == 0 and m.nranks == 2 and m.count == m.size_bytes // 4
        assert 0 < m.min_us <= m.median_us <= m.p99_us and m.min_us <= m.time_us <= m.p99_us
        assert m.busbw_GBps == pytest.approx(m.algbw_GBps * costmodel.bus_factor(op, 2))
    assert result.transport is None


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
@pytest.mark.parametrize("op", ["all_reduce", "reduce_scatter"])
def test_it_reduces_half_precision_exactly_on_gloo_cpu(op, dtype):
    result = run_sweep(SweepConfig(op=op, dtype=dtype, **SMALL))
    assert [m.wrong for m in result.measurements] == [0, 0, 0]
    assert result.measurements[0].count == 512


def test_it_splits_all_gather_sizes_evenly_across_four_ranks():
    config = SweepConfig(op="all_gather", nproc=4, min_bytes=1000, max_bytes=1000, factor=2,
                         warmup=0, iters=2)
    (m,) = run_sweep(config).measurements
    assert (m.size_bytes, m.count, m.wrong) == (992, 248, 0)  # 1000 B rounded down to 4 × 62 floats
    assert m.busbw_GBps == pytest.approx(m.algbw_GBps * 3 / 4)


def test_it_streams_each_record_to_the_caller_as_it_is_measured():
    seen = []
    result = run_sweep(SweepConfig(**SMALL), on_record=lambda m: seen.append((os.getpid(), m)))
    assert [m for _, m in seen] == result.measurements
    assert {pid for pid, _ in seen} == {os.getpid()}


def test_it_cancels_between_sizes_and_keeps_the_pool_usable():
    asked = []

    def stop_after_two():
        asked.append(True)
        return len(asked) > 2

    with pytest.raises(SweepCancelled) as cancelled:
        run_sweep(SweepConfig(**SMALL), should_stop=stop_after_two)
    assert [m.size_bytes for m in cancelled.value.measurements] == [1024, 4096]
    assert len(run_sweep(SweepConfig(**SMALL)).measurements) == 3


def _measure_with_a_faulty_all_reduce(ctx, step):
    """Rank task: rank 0's all_reduce corrupts one element, so #wrong must say 1 (per rank 0)."""
    real = dist.all_reduce

    def faulty(tensor, *args, **kwargs):
        real(tensor, *args, **kwargs)
        if ctx.rank == 0:
            tensor[0] += 1
    dist.all_reduce = faulty
    try:
        return measure_size(ctx, step)
    finally:
        dist.all_reduce = real


def test_it_counts_wrong_elements_when_a_collective_is_wrong():
    step = SizeStep("all_reduce", 256, "float32", warmup=0, iters=1)
    per_rank = get_pool(SweepConfig(**SMALL).device_group()).run(_measure_with_a_faulty_all_reduce, step)
    assert [wrong for _, wrong in per_rank] == [1, 0]


def test_it_takes_the_slowest_rank_and_percentiles_of_its_iterations():
    step = SizeStep("all_reduce", 1 << 20, "float32", warmup=0, iters=4)
    times = [[1e-3, 1e-3, 1e-3, 5e-3], [2e-3, 2e-3, 2e-3, 1e-3]]     # means 2.0 and 1.75 ms
    m = summarise(step, times, wrong=0)
    assert m.time_us == pytest.approx(2000)                     # the slowest rank's mean
    assert (m.min_us, m.median_us, m.p99_us) == pytest.approx((1000, 1000, 5000))  # its iterations
    assert m.algbw_GBps == pytest.approx((4 << 20) / 2e-3 / 1e9)
    assert m.busbw_GBps == pytest.approx(m.algbw_GBps)           # 2(n-1)/n = 1 at n = 2


@pytest.mark.parametrize(
    "changes, constraint",
    [(dict(op="all_to_all"), "op must be one of"),
     (dict(dtype="float64"), "dtype must be one of"),
     (dict(backend="gloo", device="cuda", dtype="bfloat16"), "gloo on cuda supports dtype float32, not bfloat16"),
     (dict(backend="nccl", device="cpu"), "nccl backend needs device='cuda'"),
     (dict(factor=1), "factor must be"),
     (dict(iters=0), "iters >= 1"),
     (dict(min_bytes=4096, max_bytes=1024), "below min_bytes"),
     (dict(max_bytes=2 << 30), "above the 1G limit on cpu"),
     (dict(op="reduce_scatter", nproc=4, min_bytes=8), "needs min_bytes >= 16"),
     (dict(nproc=64), "more than the"),
     (dict(min_bytes=2, dtype="float32"), "below one float32 element"),
     (dict(op="all_reduce", dtype="bfloat16", nproc=19), "sums reach 266, but bfloat16 holds integers exactly only up to 256")],
)
def test_it_refuses_bad_sweeps_before_starting_any_process(monkeypatch, changes, constraint):
    monkeypatch.setattr(collectives, "get_pool", lambda group: pytest.fail("a pool was started"))
    config = SweepConfig(**{**SMALL, **changes})
    with pytest.raises(ConfigError, match=constraint):
        config.validate()
    with pytest.raises(ConfigError, match=constraint):
        run_sweep(config)


def test_it_prints_an_nccl_tests_style_table(capsys):
    assert main(["--nproc", "2", "-b", "1K", "-e", "4K", "-f", "2", "-w", "1", "-n", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = [line.split() for line in lines if not line.startswith("#")]
    assert [row[0] for row in rows] == ["1024", "2048", "4096"]
    assert all(row[2:5] == ["float", "sum", "-1"] and row[8] == "0" for row in rows)
    assert any(line.startswith("#") and "in-place" in line and "out-of-place" not in line for line in lines)
    assert "# Out of bounds values : 0 OK" in lines


def test_it_names_types_redops_and_roots_as_nccl_tests_does(capsys):
    assert main(["--nproc", "2", "-o", "broadcast", "-d", "float16", "-b", "1K", "-e", "1K", "-w", "0", "-n", "1"]) == 0
    (row,) = [line.split() for line in capsys.readouterr().out.splitlines() if not line.startswith("#")]
    assert row[2:5] == ["half", "none", "0"]


def test_it_reports_config_errors_on_the_command_line(capsys):
    assert main(["--nproc", "2", "-b", "1K", "-e", "2G"]) == 2
    assert "above the 1G limit" in capsys.readouterr().err


def test_it_refuses_a_sweep_whose_buffers_exceed_the_hosts_memory(monkeypatch):
    monkeypatch.setattr(collectives, "get_pool", lambda group: pytest.fail("a pool was started"))
    monkeypatch.setattr(devicegroup, "host_memory_available", lambda: 1 << 30)
    config = SweepConfig(**{**SMALL, "op": "all_gather", "nproc": 4, "max_bytes": 256 << 20})
    need = 4 * rank_buffer_bytes("all_gather", 256 << 20, 4, "gloo")
    assert need > 1 << 30
    with pytest.raises(ConfigError, match=r"per rank, \d+\.\d\d GiB for 4 ranks, but this machine has 1\.00 GiB"):
        run_sweep(config)
    monkeypatch.setattr(devicegroup, "host_memory_available", lambda: need)
    config.validate()


def _peak_growth_while_measuring(ctx, step):
    """Rank task: how far measuring one size raises this rank's peak resident memory (bytes)."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    _, wrong = measure_size(ctx, step)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before, wrong


def test_it_frees_the_timing_buffer_and_checks_without_a_copy_of_the_message():
    size = 64 << 20
    shutdown_pool()  # a fresh pool: the peak must not be an earlier test's high-water mark
    step = SizeStep("all_reduce", size // 4, "float32", warmup=1, iters=2)
    per_rank = get_pool(SweepConfig(**SMALL).device_group()).run(_peak_growth_while_measuring, step)
    slack = 32 << 20  # gloo's and glibc's own small buffers
    for growth, wrong in per_rank:
        assert wrong == 0
        assert growth <= rank_buffer_bytes("all_reduce", size, 2, "gloo") + slack < 2 * size


def test_it_uses_the_older_split_collective_names_on_a_torch_before_2_13():
    """A CUDA torch the user keeps (2.11 on the H200 check) has no all_gather_single: the sweep
    raised AttributeError on every all-gather and reduce-scatter there."""
    from types import SimpleNamespace

    older = SimpleNamespace(all_gather_into_tensor=dist.all_gather_into_tensor,
                            reduce_scatter_tensor=dist.reduce_scatter_tensor)
    assert collectives.split_collectives(older) == (older.all_gather_into_tensor, older.reduce_scatter_tensor)
    newer = SimpleNamespace(all_gather_single=dist.all_gather, reduce_scatter_single=dist.reduce_scatter, **vars(older))
    assert collectives.split_collectives(newer) == (newer.all_gather_single, newer.reduce_scatter_single)
