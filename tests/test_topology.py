"""Topology data model: sources, JSON round trip, merging several sources, measurements."""
import json
from pathlib import Path

import pytest

from tpworkers.catalog import costmodel
from tpworkers.diagnose.nvsmi_parse import parse
from tpworkers.diagnose.topology import (MEASURED, NVML, SMI, GPU, Node, NvLinkLink, PairMeasurement,
                                Topology, add_measurement, normalise_bus_id, put, resolve_remote_gpus)
from tpworkers.diagnose.topology_merge import merge

FIXTURES = Path(__file__).parent / "fixtures" / "nvsmi"


def parsed(name):
    return parse((FIXTURES / name).read_text(), hostname="box")[1]


def test_it_round_trips_through_json():
    node = merge(parsed("h100-sxm-8gpu.topo-m.txt"), parsed("h100-sxm-8gpu.nvlink-s.txt"))
    node.reasons.append("nvmlInit: NVML Shared Library Not Found")
    topo = Topology([node])
    again = Topology.from_dict(json.loads(json.dumps(topo.to_dict())))
    assert again == topo
    assert again.nodes[0].gpu(3).nvlinks[17].sources["speed_Bps"] == SMI


def test_it_marks_each_field_with_its_source():
    gpu = GPU(0)
    put(gpu, NVML, name="NVIDIA H100 NVL", numa_affinity=None)
    assert gpu.sources == {"name": NVML} and gpu.numa_affinity is None


def test_it_merges_matrix_status_and_p2p_views_of_one_node():
    node = merge(parsed("h100-nvl-4gpu-link-down.topo-m.txt"),
                 parsed("h100-nvl-4gpu-link-down.nvlink-s.txt"),
                 parsed("h100-nvl-4gpu-link-down.p2p-r.txt"))
    assert node.gpu(0).name == "NVIDIA H100 NVL" and node.gpu(0).numa_affinity == 0
    assert len(node.gpu(0).nvlinks) == 12
    pair = node.find_pair(0, 1)
    assert (pair.path, pair.nvlink_count, pair.p2p_read) == ("NODE", 0, "OK")
    assert node.nvlink_count(2, 3) == 12


def test_it_prefers_nvml_over_pasted_text_and_keeps_measurements():
    text = Node("box")
    put(text.add_gpu(0), SMI, name="from text", numa_affinity=0)
    api = Node("box")
    put(api.add_gpu(0), NVML, name="from nvml")
    measured = Node("box")
    put(measured.add_pair(0, 1), MEASURED, measured_busbw_Bps=100e9)
    node = merge(text, api, measured)
    assert node.gpu(0).name == "from nvml" and node.gpu(0).sources["name"] == NVML
    assert node.gpu(0).numa_affinity == 0 and node.gpu(0).sources["numa_affinity"] == SMI
    assert node.find_pair(0, 1).sources["measured_busbw_Bps"] == MEASURED


def test_it_marks_a_merge_of_failed_and_working_sources_partial():
    failed = Node("box", probe_status="unavailable", reasons=["nvmlInit: NVML Shared Library Not Found"])
    node = merge(failed, parsed("pcie-8gpu.topo-m.txt"))
    assert node.probe_status == "partial" and node.reasons == failed.reasons
    assert merge(failed).probe_status == "unavailable"


def test_it_resolves_link_remotes_to_gpus_by_bus_id():
    node = parsed("h100-pcie-2gpu-bridge.nvlink-r.txt")
    put(node.gpu(0), NVML, pci_bus_id="0000:4f:00.0")
    put(node.gpu(1), NVML, pci_bus_id="00000000:52:00.0")
    resolve_remote_gpus(node)
    assert {l.remote_gpu for l in node.gpu(0).nvlinks} == {1}
    assert len(node.bond(1, 0)) == 12 and node.nvlink_count(0, 1) == 12
    assert normalise_bus_id("4f:00.0") == "00000000:4F:00.0"


def test_it_leaves_switch_remotes_unresolved():
    node = parsed("h100-sxm-8gpu.nvlink-r.txt")
    resolve_remote_gpus(node)
    assert all(l.remote_gpu is None for g in node.gpus for l in g.nvlinks)


def test_it_turns_a_sweep_into_a_measured_pair_bandwidth():
    points = tuple((2.0**k, costmodel.ring_allreduce_time_s(2.0**k, 2, 8e-6, 30e9))
                   for k in range(10, 30))
    m = PairMeasurement(gpus=(0, 1), points=points)
    node = Node("box")
    add_measurement(node, m)
    pair = node.find_pair(0, 1)
    assert pair.measured_busbw_Bps == pytest.approx(30e9, rel=0.01)
    assert pair.measured_alpha_s == pytest.approx(8e-6, rel=1e-3)
    assert PairMeasurement(gpus=(2, 3), busbw_Bps=5e9).large_message_busbw_Bps() == 5e9
    with pytest.raises(ValueError, match="neither"):
        PairMeasurement(gpus=(0, 1)).large_message_busbw_Bps()


def test_it_counts_only_active_links_of_a_bond():
    node = Node("box")
    gpu = node.add_gpu(0)
    gpu.nvlinks = [NvLinkLink(i, state="active" if i < 3 else "inactive", remote_gpu=1)
                   for i in range(4)]
    assert node.nvlink_count(0, 1) == 3 and node.nvlink_count(1, 0) == 3
    assert node.nvlink_count(0, 2) is None


def test_it_looks_gpus_up_without_creating_phantoms():
    node = parsed("h100-pcie-2gpu-bridge.topo-m.txt")
    assert node.find_gpu(9) is None and node.bond(9, 0) == [] and node.nvlink_count(0, 9) is None
    with pytest.raises(KeyError, match="box has no GPU9"):
        node.gpu(9)
    assert [g.index for g in node.gpus] == [0, 1] and node.add_gpu(0) is node.gpu(0)


def test_it_reads_topologies_saved_with_the_old_single_numa_field():
    saved = {"nodes": [{"hostname": "box", "gpus": [
        {"index": 0, "numa_node": 1, "sources": {"numa_node": SMI, "name": SMI}, "name": "x"},
        {"index": 1, "numa_node": 3, "sources": {"numa_node": NVML}}]}]}
    gpu0, gpu1 = Topology.from_dict(saved).nodes[0].gpus
    assert (gpu0.numa_affinity, gpu0.gpu_numa_id, gpu0.sources) == (1, None, {"numa_affinity": SMI, "name": SMI})
    assert (gpu1.numa_affinity, gpu1.gpu_numa_id, gpu1.sources) == (None, 3, {"gpu_numa_id": NVML})
