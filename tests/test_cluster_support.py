"""Shared set-up for the cluster page tests (no tests here): clusters built from the real
nvidia-smi fixtures, and finished pair runs with measured rows."""
from pathlib import Path

import pytest
from django.utils import timezone

from tpworkers.clusters import paste_topology
from tpworkers.models import ClusterOwnership
from tpworkers.models import Cluster, ExperimentRun, Measurement

NVSMI = Path(__file__).parent / "fixtures" / "nvsmi"
WORKED = ("h100-nvl-4gpu-link-down.topo-m.txt", "h100-nvl-4gpu-link-down.nvlink-s.txt",
          "h100-nvl-4gpu-link-down.p2p-r.txt")
WORKED_LINE = ("CUDA_VISIBLE_DEVICES=0,1 vllm serve google/gemma-2-27b-it "
               "--tensor-parallel-size 2 --quantization fp8")


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """The learner fixtures hash real passwords: PBKDF2 costs about a second a test here."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def owned_cluster(owner, name="my-rack") -> Cluster:
    cluster = Cluster.objects.create(name=name)
    ClusterOwnership.objects.create(cluster=cluster, owner=owner)
    return cluster


def node_from(cluster, hostname, *fixtures, online=True):
    for name in fixtures:
        _, node = paste_topology(cluster, hostname, (NVSMI / name).read_text())
    if online:
        node.last_heartbeat_at = timezone.now()
        node.save()
    return node


def finished_pair_run(owner, node, gpus, busbw_by_size: dict[int, float]) -> ExperimentRun:
    run = ExperimentRun.objects.create(owner=owner, node=node, experiment="collective_sweep",
                                       params={"op": "all_reduce", "gpus": list(gpus), "nproc": 2},
                                       status="done", finished_at=timezone.now())
    for seq, (size, busbw) in enumerate(busbw_by_size.items()):
        Measurement.objects.create(run=run, seq=seq, data={"op": "all_reduce", "size_bytes": size,
                                                           "time_us": 1.0, "busbw_GBps": busbw})
    return run
