"""nvidia-smi text parsers on realistic fixtures (tests/fixtures/nvsmi/)."""
from pathlib import Path

import pytest

from tpworkers.diagnose.nvsmi_matrix import parse_topo_matrix
from tpworkers.diagnose.nvsmi_parse import ParseError, detect_kind, main, parse

FIXTURES = Path(__file__).parent / "fixtures" / "nvsmi"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


@pytest.mark.parametrize("name,kind", [
    ("h100-sxm-8gpu.topo-m.txt", "topo-m"), ("pcie-8gpu.topo-m.txt", "topo-m"),
    ("old-driver-soc.topo-m.txt", "topo-m"), ("h100-pcie-2gpu-bridge.p2p-r.txt", "topo-p2p"),
    ("h100-sxm-8gpu.nvlink-s.txt", "nvlink-status"), ("h100-sxm-8gpu.nvlink-r.txt", "nvlink-remote"),
    ("h100-pcie-2gpu-bridge.nvlink-r.txt", "nvlink-remote"),
])
def test_it_detects_which_output_was_pasted(name, kind):
    assert detect_kind(fixture(name)) == kind


def test_it_reads_an_8x_h100_sxm_matrix_with_nics():
    kind, node = parse(fixture("h100-sxm-8gpu.topo-m.txt"))
    assert kind == "topo-m" and len(node.gpus) == 8 and len(node.pairs) == 28
    assert {p.nvlink_count for p in node.pairs} == {18}
    assert [(n.name, n.device) for n in node.nics][:2] == [("NIC0", "mlx5_0"), ("NIC1", "mlx5_1")]
    paths = {(p.gpu, p.nic): p.path for p in node.nic_paths}
    assert paths[(0, "NIC0")] == "PXB" and paths[(0, "NIC2")] == "SYS" and paths[(7, "NIC3")] == "PXB"
    assert node.gpu(5).numa_affinity == 1 and node.gpu(5).cpu_affinity == "56-111,168-223"
    assert node.gpu(5).gpu_numa_id is None  # "N/A": the GPU's memory is no NUMA node here
    assert node.find_pair(0, 7).sources["nvlink_count"] == "reported-nvidia-smi"


def test_it_reads_a_space_separated_pcie_only_matrix():
    node = parse_topo_matrix(fixture("pcie-8gpu.topo-m.txt"))
    assert all(p.nvlink_count == 0 for p in node.pairs)
    assert node.find_pair(0, 1).path == "PIX" and node.find_pair(0, 2).path == "NODE"
    assert node.find_pair(3, 4).path == "SYS"


def test_it_maps_old_driver_soc_to_sys_and_device_named_nic_columns():
    node = parse_topo_matrix(fixture("old-driver-soc.topo-m.txt"))
    assert node.find_pair(0, 2).path == "SYS" and node.find_pair(2, 3).path == "PIX"
    assert [n.name for n in node.nics] == ["mlx5_0"]
    assert {(p.gpu, p.path) for p in node.nic_paths} == {(0, "SYS"), (1, "SYS"), (2, "PHB"), (3, "PHB")}
    assert node.gpu(0).cpu_affinity == "0-11,24-35" and node.gpu(0).numa_affinity is None


def test_it_reads_an_nvlink_bridge_pair():
    _, topo = parse(fixture("h100-pcie-2gpu-bridge.topo-m.txt"))
    _, p2p = parse(fixture("h100-pcie-2gpu-bridge.p2p-r.txt"))
    _, remote = parse(fixture("h100-pcie-2gpu-bridge.nvlink-r.txt"))
    assert topo.find_pair(0, 1).nvlink_count == 12 and topo.find_pair(0, 1).path is None
    assert p2p.find_pair(0, 1).p2p_read == "OK"
    assert {link.remote_bus_id for link in remote.gpu(0).nvlinks} == {"00000000:52:00.0"}


def test_it_reads_link_states_and_speeds():
    _, node = parse(fixture("a100-4gpu-some-links-inactive.nvlink-s.txt"))
    gpu1 = node.gpu(1)
    assert gpu1.name == "NVIDIA A100-SXM4-80GB" and gpu1.uuid.startswith("GPU-")
    assert [l.link for l in gpu1.nvlinks if l.state == "inactive"] == [10, 11]
    assert gpu1.nvlinks[0].speed_Bps == 25e9 and gpu1.nvlinks[10].speed_Bps is None
    _, down = parse(fixture("h100-nvl-4gpu-link-down.nvlink-s.txt"))
    assert {l.state for l in down.gpu(0).nvlinks} == {"inactive"}
    assert {l.speed_Bps for l in down.gpu(2).nvlinks} == {26.562e9}


def test_it_reads_partial_nvlink_bonds_from_the_matrix():
    _, node = parse(fixture("a100-4gpu-some-links-inactive.topo-m.txt"))
    assert node.find_pair(1, 3).nvlink_count == 2 and node.find_pair(0, 1).nvlink_count == 4


def test_it_accepts_crlf_ansi_and_an_echoed_command():
    text = "$ nvidia-smi topo -m\r\n\x1b[1m" + fixture("h100-pcie-2gpu-bridge.topo-m.txt").replace(
        "\n", "\r\n")
    assert parse(text)[1].find_pair(0, 1).nvlink_count == 12


def test_it_names_the_line_of_a_truncated_row():
    lines = fixture("h100-sxm-8gpu.topo-m.txt").split("\n")
    lines[4] = "GPU3\tNV18\tNV18\tNV18"
    with pytest.raises(ParseError, match="line 5: could not read 'GPU3 NV18 NV18 NV18'") as err:
        parse("\n".join(lines))
    assert err.value.line_no == 5 and "truncated" in str(err.value)


def test_it_keeps_the_gpu_numa_id_apart_from_the_numa_affinity():
    text = fixture("h100-pcie-2gpu-bridge.topo-m.txt").replace("0\t\tN/A", "0\t\t4", 1)
    gpu0, gpu1 = parse(text)[1].gpus
    assert (gpu0.numa_affinity, gpu0.gpu_numa_id) == (0, 4) and (gpu1.numa_affinity, gpu1.gpu_numa_id) == (0, None)


def test_it_names_a_row_cut_inside_its_trailing_columns():
    lines = fixture("h100-sxm-8gpu.topo-m.txt").split("\n")
    lines[8] = lines[8].rsplit("\t", 2)[0]  # GPU7's row loses its GPU NUMA ID
    with pytest.raises(ParseError, match="line 9: .*expected 3 values after the matrix "
                                         r"\(CPU Affinity, NUMA Affinity, GPU NUMA ID\), found 2"):
        parse("\n".join(lines))


def test_it_names_the_last_line_when_rows_are_missing():
    text = "\n".join(fixture("pcie-8gpu.topo-m.txt").split("\n")[:4])
    with pytest.raises(ParseError, match="line 4: .*GPU3, GPU4, GPU5, GPU6, GPU7 are missing"):
        parse(text)


def test_it_names_an_unknown_cell():
    text = fixture("h100-pcie-2gpu-bridge.topo-m.txt").replace("NV12", "NVXX", 1)
    with pytest.raises(ParseError, match="line 2: .*unknown cell value 'NVXX'"):
        parse(text)


def test_it_reads_a_p2p_matrix_of_only_ns_and_u_cells():
    text = " \tGPU0\tGPU1\tGPU2\t\n GPU0\tX\tNS\tNS\t\n GPU1\tNS\tX\tU\t\n GPU2\tNS\tU\tX\t\n"
    kind, node = parse(text)
    assert kind == "topo-p2p" and node.find_pair(0, 1).p2p_read == "NS" and node.find_pair(1, 2).p2p_read == "U"


def test_it_names_the_last_line_of_an_nvlink_paste_cut_between_lines():
    lines = fixture("h100-sxm-8gpu.nvlink-s.txt").rstrip("\n").split("\n")
    with pytest.raises(ParseError, match="GPU 7 lists 5 links where the GPUs before it list 18") as err:
        parse("\n".join(lines[:-13]))
    assert err.value.line_no == len(lines) - 13


def test_it_says_a_truncated_link_line_is_incomplete():
    text = "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-1234)\n\t Link 0: 26.562 GB/s\n\t Link 1: 26.5\n"
    with pytest.raises(ParseError, match="line 3: could not read 'Link 1: 26.5': this Link line is incomplete"):
        parse(text)


@pytest.mark.parametrize("text,line_no", [
    ("hello world\nthis is not nvidia-smi", 1),
    ("GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-1234)\n\t Link 0: 26.562 GB/s\n\t Lnk 1: ???", 3),
    ("\t Link 0: 26.562 GB/s\n", 1),
    ("", 1),
])
def test_it_rejects_garbage_naming_the_line(text, line_no):
    with pytest.raises(ParseError) as err:
        parse(text)
    assert err.value.line_no == line_no and f"line {line_no}:" in str(err.value)


def test_it_rejects_text_after_the_legend():
    text = fixture("h100-pcie-2gpu-bridge.topo-m.txt") + "some trailing junk\n"
    with pytest.raises(ParseError, match="legend"):
        parse(text)


def test_it_prints_parsed_files_from_the_cli(capsys, tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("nonsense")
    assert main([str(FIXTURES / "h100-pcie-2gpu-bridge.topo-m.txt")]) == 0
    assert '"nvlink_count": 12' in capsys.readouterr().out
    assert main([str(bad)]) == 1
    assert "line 1" in capsys.readouterr().err
