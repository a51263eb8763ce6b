"""The GPU catalog: one entry per product, read by the lessons, the findings and the cluster page."""
import pytest

from lessons.calculators import MemoryFitForm
from lessons.figures import evaluate
from tpworkers.gpus import GPUS, find_gpu, get_gpu, memory_from_name, sized_gpus
from tpworkers.links import LINKS, PCIE_X16_Bps, assumed_pcie, link_for_gpu


@pytest.mark.parametrize("reported, key", [
    ("NVIDIA H100 80GB HBM3", "H100"), ("NVIDIA H100 NVL", "H100-NVL"), ("NVIDIA H100 PCIe", "H100-PCIe"),
    ("NVIDIA H200", "H200"), ("NVIDIA GH200 480GB", "GH200"), ("NVIDIA A100-SXM4-80GB", "A100"),
    ("NVIDIA B200", "B200"),
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
    assert link_for_gpu("NVIDIA H100 NVL").key == "nvlink4-bridge" and link_for_gpu("NVIDIA A800").key == "nvlink3"


def test_it_reads_memory_from_the_name_before_the_catalog():
    assert memory_from_name("NVIDIA A100-SXM4-40GB") == 40e9
    assert memory_from_name("NVIDIA H100 NVL") == 94e9 and memory_from_name("NVIDIA H200") == 141e9
    assert memory_from_name("NVIDIA GH200") is None  # no cited figure: unknown, not H200's


def test_it_assumes_the_pcie_generation_a_product_ships_with():
    assert assumed_pcie("NVIDIA H100 80GB HBM3").key == "pcie5"
    assert assumed_pcie("NVIDIA A100-PCIE-40GB").key == "pcie4" and assumed_pcie("").key == "pcie4"
    assert "assumed for NVIDIA H200" in assumed_pcie("NVIDIA H200").source


def test_it_gives_the_lessons_the_same_figures():
    assert evaluate('gpu_memory("H100-NVL")') == 94e9 and evaluate('hbm_bandwidth("H200")') == 4.8e12
    offered = dict(MemoryFitForm.base_fields["gpu"].choices)
    assert set(offered) == {gpu.key for gpu in sized_gpus()} and "H100" in offered
