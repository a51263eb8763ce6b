"""The one rule behind every "ranks share a device" note and the layer form's default TP sizes:
more ranks than devices (GPUs, or CPU cores for gloo) share one; 0 devices is not known."""

import pytest

from tpworkers.rank_sharing import planned_layer_note, ranks_share, run_note


def cpu_ranks(n):
    return {"backend": "gloo", "device": "cpu", "gpus": [], "p2p": True, "nproc": n}


def gpu_ranks(gpus):
    return {"backend": "gloo", "device": "cuda", "gpus": gpus, "p2p": True, "nproc": len(gpus)}


@pytest.mark.parametrize("ranks, devices, shared", [(4, 2, True), (2, 2, False), (1, 2, False), (4, 0, False)])
def test_it_says_ranks_share_only_when_they_outnumber_known_devices(ranks, devices, shared):
    assert ranks_share(ranks, devices) is shared


def test_it_notes_gloo_ranks_outnumbering_the_cores_after_a_run():
    assert run_note(cpu_ranks(4), cpu_cores=2) == (
        "4 ranks on 2 CPU cores: compute times are not comparable; "
        "this measures oversubscription, not tensor parallelism.")
    assert run_note(cpu_ranks(2), cpu_cores=2) == ""
    assert run_note(cpu_ranks(4), cpu_cores=0) == ""  # cores not known: no claim


def test_it_notes_ranks_sharing_a_gpu_after_a_run():
    assert run_note(gpu_ranks([0, 0, 1, 1]), cpu_cores=2) == (
        "4 ranks share 2 GPUs: compute times are not comparable; "
        "this measures ranks queueing for a GPU, not tensor parallelism.")
    assert run_note(gpu_ranks([0, 1, 2, 3]), cpu_cores=2) == ""  # 4 GPUs: the cores do not matter


def test_it_says_nothing_before_a_run_starts():
    assert run_note({}, cpu_cores=2) == ""


def test_it_warns_before_a_layer_run_outnumbers_a_cpu_nodes_cores():
    assert planned_layer_note(4, gpu_count=0, cpu_cores=2).startswith(
        "TP=4 runs 4 ranks on this node's 2 CPU cores: they take turns")
    assert planned_layer_note(2, gpu_count=0, cpu_cores=2) == ""
    assert planned_layer_note(4, gpu_count=0, cpu_cores=0) == ""
    assert planned_layer_note(4, gpu_count=4, cpu_cores=2) == ""  # its ranks run on the GPUs


def test_it_warns_when_a_node_has_fewer_gpus_than_the_largest_tp_size():
    """With fewer GPUs than ranks the run goes to gloo on the CPU (experiments._device), so a node
    with one GPU and two cores runs TP=4 as four ranks on two cores: the note said nothing."""
    assert planned_layer_note(4, gpu_count=1, cpu_cores=2).startswith("TP=4 runs 4 ranks on this node's 2 CPU cores")
    assert planned_layer_note(4, gpu_count=2, cpu_cores=2) != ""
