"""A run's device group as its page shows it, and read back by the charts and the lessons."""
import pytest

from tpworkers.measure.configs import SweepConfig
from tpworkers.experiments import described_gpus, describe_group


@pytest.mark.parametrize("devices, gpus", [
    (dict(backend="gloo", device="cpu"), ()),
    (dict(backend="nccl", device="cuda", gpus=(2, 3)), (2, 3)),
    (dict(backend="nccl", device="cuda", gpus=(0, 1), p2p=False), (0, 1)),
    (dict(backend="gloo", device="cuda", gpus=(4, 5)), (4, 5)),
])
def test_it_reads_back_the_gpus_a_description_names(devices, gpus):
    described = describe_group(SweepConfig(nproc=2, **devices))
    assert described_gpus(described) == gpus


def test_it_knows_no_devices_before_a_run_starts():
    assert described_gpus("") is None
