"""The lab's CommLog observes collectives it did not issue: torch.distributed calls and the
functional collectives DTensor runs, with their bytes, only inside the block."""
import pytest
import torch
import torch.distributed as dist
import torch.distributed._functional_collectives as funcol
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.tensor import DTensor, Partial, Replicate

from tpworkers.measure.launcher import DeviceGroup, get_pool, shutdown_pool
from tpworkers.measure.tp_ops import CommLog, observing


@pytest.fixture(scope="module", autouse=True)
def _stop_pool_after_module():
    yield
    shutdown_pool()


def _observe(ctx, payload):
    """Rank task: three collectives inside `observing`, one outside; returns (op, bytes) seen
    and the values they produced."""
    mesh = init_device_mesh("cpu", (ctx.world_size,))
    log = CommLog(ctx.device)
    x = torch.full((4, 8), float(ctx.rank + 1))  # 128 bytes
    with observing(log, "forward"):
        dist.all_reduce(x)                                                 # c10d
        gathered = funcol.all_gather_tensor(torch.ones(2, 8), 0, mesh)     # functional, 2 ranks × 64 B
        summed = DTensor.from_local(torch.ones(3, 8), mesh, [Partial()]).redistribute(placements=[Replicate()])
    dist.all_reduce(torch.ones(1))  # outside the block: not logged
    return ([(c.op, c.phase, c.bytes) for c in log.calls], float(x[0, 0]), tuple(gathered.shape),
            float(summed.to_local()[0, 0]), all(c.seconds > 0 for c in log.calls))


def test_it_logs_every_collective_any_library_runs_inside_the_block():
    for calls, reduced, gathered, summed, timed in get_pool(DeviceGroup(nproc=2)).run(_observe):
        assert calls == [("all_reduce", "forward", 128), ("all_gather", "forward", 128), ("all_reduce", "forward", 96)]
        assert (reduced, gathered, summed) == (3.0, (4, 8), 2.0) and timed
