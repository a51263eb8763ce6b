"""The cluster page's view-model, built from the real nvidia-smi fixtures (no Django)."""
import pytest

from tpworkers.diagnose import clusterview
from tpworkers.diagnose.nvsmi_parse import parse
from tpworkers.diagnose.pairlinks import group_link, nvlink_states, pair_link
from tpworkers.diagnose.topology import NVML, NvLinkLink, put
from tpworkers.diagnose.topology_merge import merge

from tests.test_cluster_support import NVSMI, WORKED


def node_from(*names):
    return merge(*(parse((NVSMI / n).read_text())[1] for n in names))


def test_it_lays_out_the_h100_sxm_matrix_as_topo_m_does():
    m = clusterview.matrix(node_from("h100-sxm-8gpu.topo-m.txt"))
    assert m.columns[:8] == [f"GPU{i}" for i in range(8)] and m.columns[8:] == ["NIC0", "NIC1", "NIC2", "NIC3"]
    first = m.rows[0].cells
    assert [c.text for c in first] == ["X"] + ["NV18"] * 7 + ["PXB", "NODE", "SYS", "SYS"]
    assert first[1].css == "nv-high" and "18 links" in first[1].title
    assert first[10].css == "pcie-sys" and "NUMA" in first[10].title
    assert ("NIC0", "mlx5_0") in m.nic_legend and m.sources == ["pasted nvidia-smi"]


def test_it_shades_nvlink_by_count_and_pcie_by_distance():
    a100 = clusterview.matrix(node_from("a100-4gpu-some-links-inactive.topo-m.txt"))
    shades = {c.text: c.css for row in a100.rows for c in row.cells}
    assert shades["NV4"] == "nv-mid" and shades["NV2"] == "nv-low"
    worked = clusterview.matrix(node_from(*WORKED))
    assert [c.css for c in worked.rows[0].cells] == ["self", "pcie-node", "pcie-sys", "pcie-sys"]


def test_it_flags_gpus_whose_nvlinks_are_down():
    states = {g.gpu: g for g in nvlink_states(node_from(*WORKED))}
    assert states[0].down and states[0].active == 0 and states[0].total == 12
    assert not states[2].down and states[2].active == 12 and states[2].inactive == []


def test_it_calls_no_gpu_down_when_no_gpu_of_the_node_has_a_link_up():
    text = (NVSMI / "h100-pcie-2gpu-bridge.nvlink-s.txt").read_text().replace("26.562 GB/s", "<inactive>")
    states = nvlink_states(parse(text)[1])
    assert [(s.active, s.total, s.down) for s in states] == [(0, 12, False), (0, 12, False)]


def test_it_models_each_pairs_peak_from_its_bond_or_pcie_path():
    node = node_from(*WORKED)
    heat = clusterview.heatmap(node, {(2, 3): (250.0, 7)})
    pairs = {(p.a, p.b): p for p in heat.pairs}
    assert pairs[2, 3].link_name.startswith("NVLink 4 bridge") and pairs[2, 3].peak_GBps == 300
    assert pairs[0, 1].link_name == "PCIe Gen5 x16" and "assumed" in pairs[0, 1].link_source
    assert pairs[2, 3].css == "heat-good" and pairs[0, 1].css == "unmeasured"
    put(node.gpu(0), NVML, pcie_gen_current=4, pcie_width_current=8)
    put(node.gpu(1), NVML, pcie_gen_current=5, pcie_width_current=16)
    assert pair_link(node, 0, 1).name == "PCIe Gen4 x8"
    a100 = node_from("a100-4gpu-some-links-inactive.topo-m.txt", "a100-4gpu-some-links-inactive.nvlink-s.txt")
    weak = pair_link(a100, 1, 3)
    assert a100.nvlink_count(1, 3) == 2 and weak.name == "NVLink 3 x2 links" and weak.bandwidth_Bps == 50e9
    nv4 = pair_link(a100, 0, 1)  # NV4 of an A100: a third of its 12 links, not the GPU's 300 GB/s
    # The best ring (0-1-2-3-0) avoids the weak GPU1-GPU3 bond, as NCCL's ring search would.
    assert nv4.bandwidth_Bps == 4 * 25e9 and group_link(a100, (0, 1, 2, 3)) == nv4


def test_it_models_a_bond_of_unnamed_gpus_from_the_reported_nvlink_version():
    node = node_from("a100-4gpu-some-links-inactive.topo-m.txt")
    assumed = pair_link(node, 0, 1)
    assert assumed.name == "NVLink 4 x4 links" and "NVLink 4 assumed" in assumed.model_inputs()
    for gpu in node.gpus:
        gpu.nvlinks = [NvLinkLink(i, state="active", version=3) for i in range(12)]
    assert pair_link(node, 0, 1).name == "NVLink 3 x4 links" and not pair_link(node, 0, 1).assumption


def test_it_takes_the_best_busbw_at_the_largest_size():
    rows = [{"size_bytes": 1024, "busbw_GBps": 900.0}, {"size_bytes": 1 << 20, "busbw_GBps": 80.0},
            {"size_bytes": 1 << 20, "busbw_GBps": 95.0}]
    assert clusterview.best_busbw_at_largest_size(rows) == 95.0
    assert clusterview.best_busbw_at_largest_size([]) is None


@pytest.mark.parametrize("seconds, words", [(None, "never"), (7.9, "7 s ago"), (600, "10 min ago"),
                                            (3 * 3600, "3 h ago"), (5 * 86400, "5 days ago")])
def test_it_says_how_long_ago(seconds, words):
    assert clusterview.ago(seconds) == words


def test_it_reads_both_stored_topology_shapes():
    node = node_from("h100-pcie-2gpu-bridge.topo-m.txt")
    flat = clusterview.node_dict(node)
    assert len(clusterview.topology_node(flat, "h").gpus) == 2
    assert len(clusterview.topology_node({"nodes": [flat]}, "h").gpus) == 2
    assert clusterview.topology_node({}, "h").gpus == []
