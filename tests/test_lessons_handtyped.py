"""The hand-typed figure check: what lesson prose may not type, and what it may."""
import pytest

from lessons.handtyped import hand_typed_figures


@pytest.mark.parametrize("text,figure", [
    ("each all-reduce carries 256 KiB", "256 KiB"),
    ("an 8 B scalar", "8 B"),
    ("a link of 900GB/s", "900GB/s"),
    ("NDR runs at 400 Gb/s", "400 Gb/s"),
    ("it takes 2.6 ms", "2.6 ms"),
    ("it takes 2.6 milliseconds", "2.6 milliseconds"),
    ("about 30 percent of the step", "30 percent"),
    ("at 76% of line rate", "76%"),
    ("NVLink is 7.5x faster", "7.5x"),
    ("NVLink is 7× faster", "7×"),
    ("NVLink is 7 times faster", "7 times"),
    ("about 7× PCIe Gen5", "7×"),
    ("NVIDIA quotes roughly seven times", "seven times"),
    ("PCIe is several times slower", "several times"),
    ("it runs 160 all-reduces per token", "160 all-reduces"),
    ("the model has 80 layers", "80 layers"),
    ("with 8 KV heads", "8 KV heads"),
    ("H100 SXM has 18 links", "18 links"),
    ("any 2 GPUs", "2 GPUs"),
    ("the weights use a fifth of it", "a fifth"),
    ("plus a tenth of the GPU", "a tenth"),
    ("well over a hundred for a 70B model", "a hundred"),
    ("the floor is a few microseconds", "a few microseconds"),
    ("16 ÷ 8 = two copies of each", "= two"),
    ("so busbw = 350 here", "= 350"),
])
def test_it_flags_a_figure_typed_into_prose(text, figure):
    assert hand_typed_figures(text) == [figure]


@pytest.mark.parametrize("text", [
    "Llama-3.1-70B on an H100 SXM at TP=4",
    "an 8× H100 SXM node and 8× RTX 5090 cards",
    "GPU0 and GPU1 are joined by NV12; the slot is PCIe Gen5 x16",
    "Shoeybi et al. 2019 (arXiv 1909.08053, §3); see NVIDIA/nccl#1161",
    "`Link 0: 26.562 GB/s` and ```\n80 layers, 256 KiB\n```",
    "{{ given: 8 }} GPUs, {{ calc: layers(\"Llama-3.1-70B\") }} layers, {{ fact: 370 GB/s | nccl-tests#212 }}",
    "Two times {{ calc: layers(\"Llama-3.1-70B\") }} layers, 2 × {{ calc: hidden(\"Llama-3.1-8B\") }}",
    "the bus factor is 2 × 7 ÷ 8, or 2(n−1)/n",
    "two all-reduces per layer on four GPUs; each GPU reads half the weights",
    "[the docs](https://example.com/v1/256KB/guide)",
    "How many KiB does it carry? How many times faster is it?",
])
def test_it_leaves_names_formulas_inputs_and_code_alone(text):
    assert hand_typed_figures(text) == []


def test_it_reports_each_figure_once_in_order():
    assert hand_typed_figures("7 times, then 256 KiB, then 80 layers") == ["7 times", "256 KiB", "80 layers"]
