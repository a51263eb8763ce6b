"""The warm rank pool: it runs tasks, names the rank that failed, reaps children and recovers."""

import os
import signal
import subprocess
import threading
import time

import pytest
import torch
import torch.distributed as dist

from tpworkers.measure.launcher import (
    ConfigError, DeviceGroup, RankFailed, RankPool, SweepCancelled, get_pool, shutdown_pool)
from tpworkers.measure.rankhealth import LOG_DIR_PREFIX, remove_stale_log_dirs
from tpworkers.measure.devicegroup import parse_transports

TWO_CPU_RANKS = DeviceGroup(nproc=2)


# Tasks run inside the rank processes, so they live at module level (pickled by name).
def _sum_of_ranks(ctx, payload):
    value = torch.tensor([float(ctx.rank + payload)])
    dist.all_reduce(value)
    return ctx.rank, ctx.world_size, value.item()


def _rank_one_raises(ctx, payload):
    if ctx.rank == 1:
        raise ValueError("boom on purpose")
    dist.barrier()


def _rank_one_is_killed(ctx, payload):
    if ctx.rank == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    dist.barrier()


def _rank_one_hangs(ctx, payload):
    if ctx.rank == 1:
        time.sleep(600)


def _rank_one_hangs_while_rank_zero_waits_in_a_collective(ctx, payload):
    if ctx.rank == 1:
        time.sleep(600)
    dist.barrier()


def _barriers_for_a_while(ctx, payload):
    for _ in range(400):
        dist.barrier()
        time.sleep(0.05)


def _process_is_gone(pid: int) -> bool:
    """True once the pid is reaped; a live process or an unreaped zombie still answers kill(0)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.fixture(scope="module", autouse=True)
def _stop_pool_after_module():
    yield
    shutdown_pool()


def test_it_runs_a_collective_on_every_rank():
    results = get_pool(TWO_CPU_RANKS).run(_sum_of_ranks, 10)
    assert results == [(0, 2, 21.0), (1, 2, 21.0)]


def test_it_reuses_the_warm_pool_for_the_same_group():
    first = get_pool(TWO_CPU_RANKS)
    assert get_pool(DeviceGroup(nproc=2, backend="gloo", device="cpu")) is first


def test_it_rebuilds_the_pool_when_the_group_changes_and_reaps_the_old_one():
    old = get_pool(TWO_CPU_RANKS)
    old_pids = old.pids
    single = get_pool(DeviceGroup(nproc=1))
    assert single is not old
    assert single.run(_sum_of_ranks, 0) == [(0, 1, 0.0)]
    assert all(_process_is_gone(pid) for pid in old_pids)


@pytest.mark.parametrize(
    "task, blamed, cause",
    [(_rank_one_raises, (1,), "raised ValueError: boom on purpose"),
     (_rank_one_is_killed, (1,), "died while _rank_one_is_killed: killed by SIGKILL"),
     (_rank_one_hangs, (1,), "did not finish")],
    ids=["raises", "sigkill", "hangs"],
)
def test_it_names_the_failed_rank_reaps_children_and_recovers(task, blamed, cause):
    pool = get_pool(TWO_CPU_RANKS)
    pids = pool.pids
    with pytest.raises(RankFailed) as failure:
        pool.run(task, timeout_s=3)
    assert failure.value.ranks == blamed
    assert cause in str(failure.value)
    assert str(failure.value).startswith("rank 1 ")
    assert all(_process_is_gone(pid) for pid in pids)
    with pytest.raises(RuntimeError, match="torn down"):
        pool.run(_sum_of_ranks, 0)
    assert get_pool(TWO_CPU_RANKS).run(_sum_of_ranks, 1) == [(0, 2, 3.0), (1, 2, 3.0)]


def test_it_kills_ranks_stuck_inside_a_collective_after_the_timeout():
    pool = get_pool(TWO_CPU_RANKS)
    pids = pool.pids
    with pytest.raises(RankFailed, match=r"^ranks 0, 1 did not finish .* within 2 s") as failure:
        pool.run(_rank_one_hangs_while_rank_zero_waits_in_a_collective, timeout_s=2)
    assert failure.value.ranks == (0, 1)
    assert all(_process_is_gone(pid) for pid in pids)
    assert get_pool(TWO_CPU_RANKS).run(_sum_of_ranks, 0) == [(0, 2, 1.0), (1, 2, 1.0)]


def test_it_names_the_one_rank_that_was_stopped_within_seconds_and_leaves_no_process():
    pool = RankPool(TWO_CPU_RANKS, heartbeat_timeout_s=2)
    pids = pool.pids
    stopper = threading.Timer(1.0, os.kill, (pids[1], signal.SIGSTOP))
    stopper.start()
    began = time.monotonic()
    with pytest.raises(RankFailed) as failure:
        pool.run(_barriers_for_a_while, timeout_s=60)
    took = time.monotonic() - began
    stopper.join()
    # rank 0 waits in a barrier for rank 1 and keeps beating: only the stopped rank is blamed
    assert failure.value.ranks == (1,)
    assert "stopped answering" in str(failure.value) and "no heartbeat" in str(failure.value)
    assert took < 1.0 + 2 + 3, took  # the stop, the heartbeat timeout, and slack for a busy machine
    assert all(_process_is_gone(pid) for pid in pids)


def test_a_cancel_ends_a_hung_step_within_seconds_and_kills_its_ranks():
    pool = RankPool(TWO_CPU_RANKS)
    pids = pool.pids
    asked = time.monotonic() + 1.0
    began = time.monotonic()
    with pytest.raises(SweepCancelled):
        pool.run(_rank_one_hangs_while_rank_zero_waits_in_a_collective, timeout_s=600,
                 should_stop=lambda: time.monotonic() > asked)
    assert time.monotonic() - began < 1.0 + 3
    assert all(_process_is_gone(pid) for pid in pids)
    assert pool.broken


def test_it_removes_rank_directories_of_dead_parents_only(tmp_path):
    dead = subprocess.Popen(["true"])
    dead.wait()
    (tmp_path / f"{LOG_DIR_PREFIX}{dead.pid}-abc").mkdir()
    (tmp_path / f"{LOG_DIR_PREFIX}{os.getpid()}-def").mkdir()
    (tmp_path / "unrelated").mkdir()
    assert remove_stale_log_dirs(str(tmp_path)) == [f"{LOG_DIR_PREFIX}{dead.pid}-abc"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{LOG_DIR_PREFIX}{os.getpid()}-def", "unrelated"]


def test_it_keeps_the_traceback_of_a_rank_that_raised():
    with pytest.raises(RankFailed) as failure:
        get_pool(TWO_CPU_RANKS).run(_rank_one_raises, timeout_s=10)
    assert "_rank_one_raises" in failure.value.details


def test_it_reaps_every_child_on_shutdown():
    pids = get_pool(TWO_CPU_RANKS).pids
    shutdown_pool()
    assert all(_process_is_gone(pid) for pid in pids)


@pytest.mark.parametrize(
    "group, constraint",
    [(DeviceGroup(nproc=0), "at least 1"),
     (DeviceGroup(backend="mpi"), "backend must be"),
     (DeviceGroup(backend="nccl", device="cpu"), "needs device='cuda'"),
     (DeviceGroup(p2p=False), "only applies to the nccl backend"),
     (DeviceGroup(nproc=10_000), "more than the"),
     (DeviceGroup(gpus=(0, 1)), "only applies to device='cuda'")],
)
def test_it_refuses_impossible_groups_before_starting_processes(group, constraint):
    with pytest.raises(ConfigError, match=constraint):
        get_pool(group)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without GPUs")
def test_it_refuses_cuda_without_gpus():
    with pytest.raises(ConfigError, match="no CUDA GPU"):
        DeviceGroup(nproc=2, backend="nccl", device="cuda", gpus=(2, 3)).validate()


def test_it_gives_each_rank_its_chosen_gpu_and_the_p2p_preset():
    group = DeviceGroup(nproc=2, backend="nccl", device="cuda", gpus=(2, 3), p2p=False)
    assert group.rank_device(1) == torch.device("cuda", 3)
    env = group.rank_env("/tmp/logs")
    assert env["NCCL_P2P_DISABLE"] == "1" and env["NCCL_NVLS_ENABLE"] == "0"
    assert env["NCCL_DEBUG"] == "INFO"
    assert DeviceGroup(nproc=2, device="cuda", backend="nccl").gpus == (0, 1)
    assert DeviceGroup(nproc=2, device="cuda", backend="nccl").rank_env("/x")["NCCL_P2P_DISABLE"] is None


def test_it_reads_the_transport_from_nccl_debug_lines():
    lines = [
        "host:919:1150 [0] NCCL INFO Channel 00/0 : 0[0] -> 1[1] via P2P/CUMEM/read\n",
        "host:919:1150 [0] NCCL INFO Channel 01/0 : 0[0] -> 1[1] via P2P/CUMEM/read\n",
        "host:919:1151 [1] NCCL INFO Connected all rings\n",
    ]
    assert parse_transports(lines) == "P2P/CUMEM/read"
    shm = ["h:1:2 [1] NCCL INFO Channel 09 : 1[1] -> 0[0] via SHM/direct/direct"]
    assert parse_transports(shm) == "SHM/direct/direct"
    assert parse_transports(["NCCL INFO NET/Socket : Using [0]eth0"]) is None


def test_it_reads_the_transport_from_every_ranks_nccl_log_in_the_pool_directory():
    pool = get_pool(TWO_CPU_RANKS)
    assert pool.transport() is None  # gloo writes no NCCL log
    logs = {
        "nccl.host.101.log": ["host:101:201 [0] NCCL INFO Bootstrap : Using eth0\n",
                              "host:101:201 [0] NCCL INFO Channel 00/0 : 0[0] -> 1[1] via P2P/CUMEM/read\n"],
        "nccl.host.102.log": ["host:102:202 [1] NCCL INFO Channel 00/0 : 1[1] -> 0[0] via SHM/direct/direct\n",
                              "host:102:202 [1] NCCL INFO Connected all rings\n"],
    }
    for name, lines in logs.items():
        with open(os.path.join(pool.log_dir, name), "w") as log:
            log.writelines(lines)
    try:
        assert pool.transport() == "P2P/CUMEM/read, SHM/direct/direct"
    finally:
        for name in logs:
            os.remove(os.path.join(pool.log_dir, name))


def test_it_warms_a_pool_in_the_background_that_the_next_run_finds_ready():
    from tpworkers.measure.launcher import warm_pool

    shutdown_pool()
    try:
        warm_pool(TWO_CPU_RANKS).join(timeout=120)
        started = time.monotonic()
        pool = get_pool(TWO_CPU_RANKS)
        assert time.monotonic() - started < 0.5 and pool.alive()  # already started: no cold start
        assert sorted(pool.run(_sum_of_ranks, 0)) == [(0, 2, 1.0), (1, 2, 1.0)]
    finally:
        shutdown_pool()
