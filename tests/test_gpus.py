"""The GPU catalog: one entry per product, read by the lessons, the findings and the cluster page."""
import pytest

from lessons.calculators import MemoryFitForm
from lessons.figures import evaluate
from tpworkers.catalog.gpus import GPUS, find_gpu, get_gpu, memory_from_name, parse_gpu_list, sized_gpus
from tpworkers.catalog.links import LINKS, PCIE_X16_Bps, assumed_pcie, link_for_gpu


@pytest.mark.parametrize("reported, key", [
    ("NVIDIA H100 80GB HBM3", "H100"), ("NVIDIA H100 NVL", "H100-NVL"), ("NVIDIA H100 PCIe", "H100-PCIe"),
    ("NVIDIA H200", "H200"), ("NVIDIA GH200 480GB", "GH200"), ("NVIDIA A100-SXM4-80GB", "A100"),
    ("NVIDIA B200", "B200"), ("NVIDIA H800", "H800"), ("NVIDIA A800-SXM4-80GB", "A800"),
])
def test_it_finds_the_product_behind_a_reported_name(reported, key):
    assert find_gpu(reported).key == key


def test_it_knows_no_product_it_has_no_entry_for():
    assert find_gpu("NVIDIA GeForce RTX 4090") is None and link_for_gpu("NVIDIA GeForce RTX 4090") is None
    with pytest.raises(ValueError, match="unknown GPU 'H300'"):
        get_gpu("H300")


def test_it_cites_every_entry_and_names_only_catalog_links():
    for gpu in GPUS:
        assert gpu.source and gpu.pcie_gen in PCIE_X16_Bps
        assert gpu.nvlink is None or gpu.nvlink in LINKS
    assert link_for_gpu("NVIDIA H100 NVL").key == "nvlink4-bridge"


def test_it_gives_the_export_parts_their_cut_down_nvlink():
    for name, full in (("NVIDIA H800", "nvlink4"), ("NVIDIA A800-SXM4-80GB", "nvlink3")):
        cut = link_for_gpu(name)
        assert cut.bandwidth_Bps == pytest.approx(400e9 / 2)  # 400 GB/s bidirectional
        assert cut.bandwidth_Bps < LINKS[full].bandwidth_Bps and "400 GB/s" in cut.source


def test_it_reads_memory_from_the_name_before_the_catalog():
    assert memory_from_name("NVIDIA A100-SXM4-40GB") == 40e9
    assert memory_from_name("NVIDIA H100 NVL") == 94e9 and memory_from_name("NVIDIA H200") == 141e9
    assert memory_from_name("NVIDIA GH200") is None  # no cited figure: unknown, not H200's
    # "480GB" is Grace's LPDDR5X plus the GPU's HBM: never the GPU memory
    assert memory_from_name("NVIDIA GH200 480GB") is None


def test_it_assumes_the_pcie_generation_a_product_ships_with():
    assert assumed_pcie("NVIDIA H100 80GB HBM3").key == "pcie5"
    assert assumed_pcie("NVIDIA A100-PCIE-40GB").key == "pcie4" and assumed_pcie("").key == "pcie4"
    assert "Gen5 x16 assumed (what H200 ships with)" in assumed_pcie("NVIDIA H200").source
    assert "not reported" in assumed_pcie("").model_inputs()


def test_it_gives_the_lessons_the_same_figures():
    assert evaluate('gpu_memory("H100-NVL")') == 94e9 and evaluate('hbm_bandwidth("H200")') == 4.8e12
    offered = dict(MemoryFitForm.base_fields["gpu"].choices)
    assert set(offered) == {gpu.key for gpu in sized_gpus()} and "H100" in offered


@pytest.mark.parametrize(("text", "expected"), [("0,1", (0, 1)), (" 2, 3 ", (2, 3)), ([4, 5], (4, 5)), ("", ()),
                                                ("7", (7,))])
def test_it_reads_gpu_lists_as_people_write_them(text, expected):
    assert parse_gpu_list(text) == expected


@pytest.mark.parametrize(("text", "problem"), [("a,b", "separated by commas"), ("-1", "separated by commas"),
                                               ("1.5", "separated by commas"), ("0,0", "named once"),
                                               ("0,64", "from 0 to 63"), ("9" * 30, "separated by commas")])
def test_it_refuses_gpu_lists_no_node_has(text, problem):
    with pytest.raises(ValueError, match=problem):
        parse_gpu_list(text)
