"""The layer benchmark's memory is budgeted before it queues (issue 13, item 8): hidden 8192 / FFN
32768 was estimated at seconds and accepted, then took ~14 GB for 4 CPU ranks."""
import pytest

from tpworkers.experiments import MEMORY_BUDGETS, estimate_memory_bytes
from tpworkers.models import ExperimentRun

WIDE_BUT_QUICK = {"experiment": "tp_layer", "kinds": ["mlp"], "tp_sizes": ["1", "2", "4"], "hidden": "8192",
                  "ffn": "32768", "heads": "64", "kv_heads": "8", "seq": "1", "dtype": "float32",
                  "warmup": "0", "iters": "1"}


def params(**overrides):
    base = {"kinds": ["mlp"], "tp_sizes": [1, 2, 4], "hidden": 8192, "ffn": 32768, "heads": 64, "kv_heads": 8,
            "seq": 1, "dtype": "float32", "warmup": 0, "iters": 1}
    return {**base, **overrides}


def test_it_counts_every_cpu_rank_building_the_whole_layer():
    """The whole layer (~956M parameters, an upper bound for its MLP alone, as the time estimate
    counts it) built in float32 by each of 4 ranks on one host, plus each rank's slice: ~19 GB."""
    needed, budget = estimate_memory_bytes("tp_layer", params(), gpus_available=0)
    assert 18e9 < needed < 20e9 and budget == MEMORY_BUDGETS["cpu"] == 4e9
    small, _ = estimate_memory_bytes("tp_layer", params(hidden=1024, ffn=4096, heads=16, kv_heads=4), 0)
    assert small < 0.5e9


def test_it_counts_one_gpu_on_a_gpu_node():
    needed, budget = estimate_memory_bytes("tp_layer", params(), gpus_available=4)
    assert 3e9 < needed < budget == MEMORY_BUDGETS["cuda"]  # TP=1: the whole layer on one GPU


@pytest.mark.django_db
def test_it_refuses_a_layer_too_large_for_the_nodes_memory_before_queueing(client, learner, lab_node):
    client.force_login(learner)
    page = client.post("/lab/runs/", WIDE_BUT_QUICK, follow=True).content.decode()
    assert not ExperimentRun.objects.exists()
    assert "would need about 19 GB of memory for all ranks on the host" in page and "the limit is 4 GB" in page


@pytest.mark.django_db
def test_it_queues_the_same_layer_on_a_gpu_node(client, learner, lab_node):
    lab_node.gpu_count = 4
    lab_node.save()
    client.force_login(learner)
    client.post("/lab/runs/", WIDE_BUT_QUICK)
    assert ExperimentRun.objects.get().params["hidden"] == 8192
