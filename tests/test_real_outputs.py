"""The parsers and node findings on real nvidia-smi outputs from public sources
(tests/fixtures/real/SOURCES.md cites each file): healthy machines of every kind collected
give no warning, real pastes are read, impossible values are refused by name."""
from pathlib import Path

import pytest

from tpworkers.diagnose.__main__ import main
from tpworkers.diagnose.findings import Inputs, diagnose
from tpworkers.diagnose.inputs import load
from tpworkers.diagnose.nvsmi_parse import ParseError, parse
from tpworkers.diagnose.pairlinks import best_ring, nvlink_states, pair_link
from tpworkers.diagnose.deployments import parse_launch_line
from tpworkers.diagnose.topology_merge import merge

REAL = Path(__file__).parent / "fixtures" / "real" / "nvsmi"
HEALTHY = [
    ("v100-dgx1.topo-m.txt",),
    ("v100-sxm2-8gpu.topo-m.txt", "v100-sxm2-8gpu.nvlink-s.txt"),
    ("h100-pcie-bridged.nvlink-s.txt",),
    ("h100-4gpu-nv6.topo-m.txt",),
    ("h100-sxm-8gpu-hgx.topo-m.txt",),
    ("gb200-4gpu.topo-m.txt", "gb200-elided.nvlink-s.txt"),
    ("rtx3090-4gpu-pairs.topo-m.txt",),
    ("rtx-a6000-3gpu.topo-m.txt", "rtx-a6000-3gpu.nvlink-s.txt"),
    ("nv12-2gpu-lost-esc.topo-m.txt",),
    ("sglang-check-env-a100-2gpu.txt",),
    ("nv12-2gpu-mlx5.topo-m.txt",),
    ("h20-8gpu-blank-affinity.topo-m.txt",),
    ("v100-dgx1-lost-tabs.topo-m.txt",),
    ("rtx5090-2gpu.topo-m.txt", "rtx5090-2gpu.p2p-rw.txt"),
    ("h200-1gpu-vm.topo-m.txt", "h200-1gpu-vm.p2p-r.txt"),
]


def node_from(*names):
    return merge(*(parse((REAL / n).read_text())[1] for n in names))


@pytest.mark.parametrize("names", HEALTHY, ids=lambda names: names[0])
def test_it_prints_no_warning_for_a_healthy_machine(names, capsys):
    assert main([str(REAL / n) for n in names]) == 0
    out = capsys.readouterr().out
    assert "[WARNING]" not in out and "[CRITICAL]" not in out, out


def test_it_sees_no_fault_in_the_dgx1_cube_mesh_under_tp8():
    node = load([str(REAL / "v100-sxm2-8gpu.topo-m.txt"), str(REAL / "v100-sxm2-8gpu.nvlink-s.txt")]).node
    dep = parse_launch_line("vllm serve meta-llama/Llama-3.1-70B -tp 8")
    assert [f for f in diagnose(Inputs(node, [dep])) if f.severity != "info"] == []
    # NCCL's best ring runs over 2-link bonds only, although GPU0-GPU5 has no NVLink at all
    ring, hop = best_ring(node, tuple(range(8)))
    assert hop.name == "NVLink 2 x2 links" and hop.bandwidth_Bps == 50e9
    assert all(node.nvlink_count(ring[i], ring[(i + 1) % 8]) == 2 for i in range(8))
    assert pair_link(node, 0, 1).name == "NVLink 2 x1 links"  # a V100, not "NVLink 4"


def test_it_sees_no_fault_in_the_cube_mesh_from_topo_m_alone():
    node = node_from("v100-dgx1.topo-m.txt")
    dep = parse_launch_line("vllm serve meta-llama/Llama-3.1-8B -tp 8")
    assert not [f for f in diagnose(Inputs(node, [dep])) if f.severity != "info"]


def test_it_reads_a_p2p_matrix_by_its_worse_direction():
    text = (REAL / "rtx5090-2gpu.p2p-rw.txt").read_text().replace(" GPU0\tX\tGNS", " GPU0\tX\tOK")
    assert parse(text)[1].find_pair(0, 1).p2p_read == "GNS"


def test_it_still_sends_a_tp_group_without_an_nvlink_ring_over_pcie():
    node = node_from("v100-dgx1.topo-m.txt")
    dep = parse_launch_line("CUDA_VISIBLE_DEVICES=0,5 vllm serve meta-llama/Llama-3.1-8B -tp 2")
    [crossing] = [f for f in diagnose(Inputs(node, [dep])) if "cross PCIe" in f.title]
    assert crossing.severity == "critical" and "GPU0-GPU5 has no NVLink" in crossing.title


def test_it_judges_an_h100_pcie_by_the_twelve_links_its_bridges_wire():
    [state] = nvlink_states(node_from("h100-pcie-bridged.nvlink-s.txt"))
    assert (state.active, state.total, state.wired, state.missing) == (12, 17, 12, 0)


def test_it_reports_the_real_link_fault_behind_an_elision_and_a_redacted_uuid():
    node = node_from("v100-link-fault-elided.nvlink-s.txt")
    assert node.gpus[0].uuid is None and node.gpus[0].name == "Tesla V100-SXM2-32GB"
    [finding] = diagnose(Inputs(node))
    assert finding.severity == "warning" and finding.title == "GPU3 has 2 of 6 NVLinks inactive (links 3, 5)"
    wired = next(e for e in finding.evidence if "healthy" in e.label)
    assert wired.value == 6 and wired.provenance == "modelled" and "mesh" in wired.source


def test_it_does_not_call_an_elided_gpu_down():
    node = node_from("gb200-elided.nvlink-s.txt")
    assert [s.gpu for s in nvlink_states(node)] == [0]
    assert any("elides" in r for r in node.reasons)


def test_it_reads_the_lost_escape_bytes_of_sglang_check_env():
    kind, node = parse((REAL / "nv12-2gpu-lost-esc.topo-m.txt").read_text())
    assert kind == "topo-m" and node.find_pair(0, 1).nvlink_count == 12
    assert [n.name for n in node.nics] == ["NIC0", "NIC1"] and node.gpus[1].numa_affinity == 1


def test_it_reads_a_whole_sglang_check_env_paste_with_its_gpu_names():
    node = node_from("sglang-check-env-a100-2gpu.txt")
    assert [g.name for g in node.gpus] == ["NVIDIA A100-SXM4-80GB"] * 2
    assert node.find_pair(0, 1).nvlink_count == 12 and len(node.nics) == 5


def test_it_reads_a_blank_cpu_affinity_cell():
    node = node_from("h20-8gpu-blank-affinity.topo-m.txt")
    assert [(g.cpu_affinity, g.numa_affinity) for g in node.gpus][:2] == [(None, 0), (None, 0)]


def test_it_recovers_a_header_whose_tabs_were_lost():
    lost, kept = node_from("v100-dgx1-lost-tabs.topo-m.txt"), node_from("v100-dgx1.topo-m.txt")
    assert lost.pairs == kept.pairs and [n.name for n in lost.nics] == ["mlx5_0", "mlx5_2", "mlx5_1", "mlx5_3"]


def test_it_refuses_a_glued_header_the_rows_do_not_explain():
    text = (REAL / "v100-dgx1-lost-tabs.topo-m.txt").read_text().replace("GPU6GPU7", "GPU6GPU8", 1)
    with pytest.raises(ParseError, match="cannot tell the header's columns apart"):
        parse(text)


def test_it_reads_nvlink_capabilities_and_says_what_they_are_not():
    kind, node = parse((REAL / "v100-capabilities.nvlink-c.txt").read_text())
    assert kind == "nvlink-capabilities" and node.gpus[0].name == "Tesla V100-SXM2-32GB"
    assert node.gpus[0].nvlinks == [] and "not whether it is up" in node.reasons[0]


def test_it_uses_gns_from_topo_p2p():
    node = node_from("rtx5090-2gpu.topo-m.txt", "rtx5090-2gpu.p2p-rw.txt")
    [finding] = diagnose(Inputs(node))
    assert finding.severity == "info" and "GNS (GPU not supported)" in finding.title
    assert "host memory" in pair_link(node, 0, 1).assumption
    dep = parse_launch_line("vllm serve meta-llama/Llama-3.1-8B -tp 2")
    crossing = next(f for f in diagnose(Inputs(node, [dep])) if "cross PCIe" in f.title)
    assert any("GNS" in e.source for e in crossing.evidence)


@pytest.mark.parametrize("cell, why", [
    ("NV0", "NV0 cannot be"),
    ("NV99999999999999999999", r"unknown cell value 'NV99999999999999999999'"),  # bounded before it is read
    ("NV19", "NV19 cannot be"),
])
def test_it_refuses_impossible_bond_counts(cell, why):
    text = (REAL / "h100-4gpu-nv6.topo-m.txt").read_text().replace("NV6", cell)
    with pytest.raises(ParseError, match=why):
        parse(text)


def test_it_refuses_an_asymmetric_matrix():
    lines = (REAL / "v100-dgx1.topo-m.txt").read_text().split("\n")
    lines[1] = lines[1].replace("NV1", "NV2", 1)  # GPU0->GPU1 NV2, GPU1->GPU0 still NV1
    with pytest.raises(ParseError, match="not symmetric: GPU0->GPU1 is NV2 but GPU1->GPU0 is NV1"):
        parse("\n".join(lines))


def test_it_refuses_gpu_index_gaps():
    text = (REAL / "rtx5090-2gpu.topo-m.txt").read_text().replace("GPU1", "GPU2")
    with pytest.raises(ParseError, match="GPU indices jump .*GPU1 missing"):
        parse(text)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8-sig", "utf-16-le"])
def test_it_decodes_a_paste_saved_in_another_encoding(tmp_path, encoding, capsys):
    path = tmp_path / "topo.txt"
    path.write_bytes((REAL / "v100-dgx1.topo-m.txt").read_text().encode(encoding))
    assert main([str(path)]) == 0 and "8 GPUs" in capsys.readouterr().out


def test_it_refuses_bytes_that_are_no_text_clearly(tmp_path, capsys):
    path = tmp_path / "topo.txt"
    path.write_bytes(b"\tGPU0\tGPU1\n\xff\xfe\xfa garbage \x80")
    assert main([str(path)]) == 2
    assert "not UTF-8 text (byte 0xff at offset 11)" in capsys.readouterr().out


@pytest.mark.parametrize("order", [("s", "r"), ("r", "s")])
def test_it_merges_nvlink_r_with_nvlink_s_in_either_order(order):
    status = parse((REAL / "h100-pcie-bridged.nvlink-s.txt").read_text())[1]
    active = [link.link for link in status.gpus[0].nvlinks if link.state == "active"]
    remote_text = "GPU 0: NVIDIA H100 PCIe (UUID: GPU-a1bf2ff6-a98d-edac-a422-0bd80fbd9724)\n" + "".join(
        f"\t Link {i}: Remote Device 00000000:52:00.0: Link {i}\n" for i in range(12))
    remote = parse(remote_text)[1]  # -R numbers the 12 active links 0..11
    views = {"s": status, "r": remote}
    merged = merge(*(views[k] for k in order)).gpus[0]
    assert [link.link for link in merged.nvlinks if link.state == "active"] == active
    assert all(link.remote_bus_id for link in merged.nvlinks if link.state == "active")
    assert [link.link for link in merged.nvlinks if link.state == "inactive"] == [4, 9, 10, 15, 16]
    assert [link.remote_link for link in merged.nvlinks if link.remote_link is not None] == list(range(12))


def test_it_reads_a_one_gpu_p2p_matrix_as_p2p_by_its_legend():
    """On the lent H200 `topo -p2p r` had one GPU, so its only cell was X: told apart from
    `topo -m` by nothing but the legend, it was read as a second `topo -m`."""
    kind, node = parse((REAL / "h200-1gpu-vm.p2p-r.txt").read_text())
    assert kind == "topo-p2p" and [gpu.index for gpu in node.gpus] == [0] and node.pairs == []
    kind, node = parse((REAL / "h200-1gpu-vm.topo-m.txt").read_text())
    assert kind == "topo-m" and node.gpus[0].numa_affinity == 0
