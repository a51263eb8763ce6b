"""Findings rules, the worked scenario end to end, and the diagnose CLI."""
from pathlib import Path

import pytest

from tpworkers import costmodel
from tpworkers.deployments import parse_launch_line
from tpworkers.diagnose_inputs import load, main
from tpworkers.findings import Inputs, diagnose
from tpworkers.links import get_link
from tpworkers.modelshapes import get_model
from tpworkers.nvsmi_parse import parse
from tpworkers.topology import NVML, Node, PairMeasurement, merge, put

FIXTURES = Path(__file__).parent / "fixtures" / "nvsmi"
WORKED_LINE = ("CUDA_VISIBLE_DEVICES=0,1 vllm serve google/gemma-2-27b-it "
               "--tensor-parallel-size 2 --quantization fp8")


def node_from(*names):
    return merge(*(parse((FIXTURES / n).read_text())[1] for n in names))


def worked_node():
    return node_from("h100-nvl-4gpu-link-down.topo-m.txt", "h100-nvl-4gpu-link-down.nvlink-s.txt",
                     "h100-nvl-4gpu-link-down.p2p-r.txt")


def by_lesson(findings, lesson):
    return [f for f in findings if f.lesson == lesson]


def test_it_diagnoses_the_worked_scenario_end_to_end():
    found = diagnose(Inputs(worked_node(), [parse_launch_line(WORKED_LINE)]))
    down = [f for f in found if "down" in f.title]
    assert len(down) == 1 and "GPU0 and GPU1" in down[0].title and down[0].severity == "critical"

    crossing = [f for f in found if "cross PCIe" in f.title]
    assert len(crossing) == 1 and crossing[0].severity == "critical"
    costs = {e.label: e for e in crossing[0].evidence if e.unit == "ms/token"}
    assert all(e.provenance == "modelled" for e in costs.values())
    gemma = get_model("Gemma-2-27B")
    over_pcie = costmodel.decode_comm_per_token(gemma, 2, 8, "bf16", get_link("pcie5"))
    over_bridge = costmodel.decode_comm_per_token(gemma, 2, 8, "bf16", get_link("nvlink4-bridge"))
    assert costs["now: TP=2 on GPU0+GPU1 over PCIe"].value == pytest.approx(over_pcie.seconds_per_token * 1e3)
    assert costs["option: TP=1 replicas"].value == 0
    assert costs["option: TP=2 on GPU2+GPU3"].value == pytest.approx(over_bridge.seconds_per_token * 1e3)
    assert "TP=1 replicas" in crossing[0].recommendation and "GPU2+GPU3" in crossing[0].recommendation

    [not_needed] = by_lesson(found, "tp-or-replicas")
    assert "not needed" in not_needed.title and "94 GB" in not_needed.title
    weights = next(e for e in not_needed.evidence if e.label == "weights")
    assert weights.provenance == "modelled"
    assert weights.value == pytest.approx(costmodel.weight_bytes(gemma, "fp8") / 1e9)
    assert "replicas" in not_needed.recommendation


def test_it_finds_nothing_wrong_with_a_healthy_h100_sxm_group():
    node = node_from("h100-sxm-8gpu.topo-m.txt", "h100-sxm-8gpu.nvlink-s.txt")
    dep = parse_launch_line("vllm serve meta-llama/Llama-3.1-70B-Instruct -tp 8")
    assert diagnose(Inputs(node, [dep])) == []


def test_it_flags_inactive_links_against_their_peers():
    found = diagnose(Inputs(node_from("a100-4gpu-some-links-inactive.nvlink-s.txt")))
    assert sorted(f.title.split()[0] for f in found) == ["GPU1", "GPU3"]
    assert all("2 of 12" in f.title and f.lesson == "the-wire" for f in found)


def test_it_flags_a_weak_pair_bond_from_the_matrix_alone():
    found = diagnose(Inputs(node_from("a100-4gpu-some-links-inactive.topo-m.txt")))
    assert [f.title for f in found] == ["GPU1-GPU3 is bonded by 2 NVLinks; other pairs by 4"]


def test_it_warns_when_tp_runs_on_a_pcie_only_node():
    node = node_from("pcie-8gpu.topo-m.txt")
    dep = parse_launch_line("vllm serve meta-llama/Llama-3.1-70B -tp 4")
    [crossing] = [f for f in diagnose(Inputs(node, [dep])) if "cross PCIe" in f.title]
    assert crossing.severity == "warning" and "GPU2+GPU3" not in crossing.recommendation


def test_it_rejects_an_invalid_tp_size():
    dep = parse_launch_line("vllm serve meta-llama/Llama-3.1-70B -tp 3")
    [finding] = diagnose(Inputs(node_from("h100-sxm-8gpu.topo-m.txt"), [dep]))
    assert finding.severity == "critical" and "64 heads are not divisible by TP=3" in finding.title
    assert "1, 2, 4, 8" in finding.recommendation and finding.lesson == "sizing-tp"


def test_it_says_when_a_model_does_not_fit():
    dep = parse_launch_line("CUDA_VISIBLE_DEVICES=0 vllm serve meta-llama/Llama-3.1-70B")
    [finding] = diagnose(Inputs(node_from("h100-sxm-8gpu.nvlink-s.txt"), [dep]))
    assert "does not fit at TP=1" in finding.title and finding.lesson == "sizing-tp"


def test_it_warns_when_tp_spans_nodes():
    dep = parse_launch_line("torchrun --nnodes 2 --nproc-per-node 8 serve.py "
                            "--model meta-llama/Llama-3.1-405B")
    found = diagnose(Inputs(node_from("h100-sxm-8gpu.topo-m.txt", "h100-sxm-8gpu.nvlink-s.txt"), [dep]))
    [spans] = by_lesson(found, "all-reduce-tax")
    network, nvlink = [e.value for e in spans.evidence if e.unit == "ms/token"]
    assert network > nvlink > 0 and "TP <= 8" in spans.recommendation


def test_it_flags_a_measured_pair_far_below_its_peers_and_its_link():
    node = node_from("h100-sxm-8gpu.topo-m.txt", "h100-sxm-8gpu.nvlink-s.txt")
    healthy = [PairMeasurement(gpus=(a, a + 1), busbw_Bps=360e9) for a in (0, 2, 4)]
    slow_points = tuple((2.0**k, costmodel.ring_allreduce_time_s(2.0**k, 2, 10e-6, 30e9))
                        for k in range(12, 30))
    found = diagnose(Inputs(node, measurements=[*healthy, PairMeasurement(gpus=(6, 7), points=slow_points)]))
    [slow] = found
    assert slow.title.startswith("GPU6-GPU7") and "peers" in slow.title and "quarter" in slow.title
    assert {e.provenance for e in slow.evidence} == {"measured", "modelled"}


def test_it_flags_pcie_links_below_their_maximum():
    node = Node("box")
    put(node.add_gpu(0), NVML, pcie_gen_current=4, pcie_gen_max=5, pcie_width_current=8, pcie_width_max=16)
    put(node.add_gpu(1), NVML, pcie_gen_current=5, pcie_gen_max=5, pcie_width_current=16, pcie_width_max=16)
    found = diagnose(Inputs(node))
    assert [(f.severity, f.title) for f in found] == [
        ("warning", "GPU0's PCIe link runs x8 of x16"), ("info", "GPU0's PCIe runs Gen4 of Gen5")]


def test_it_flags_nvlink_error_counters_rising_between_probes():
    before, after = node_from("h100-pcie-2gpu-bridge.nvlink-s.txt"), node_from("h100-pcie-2gpu-bridge.nvlink-s.txt")
    before.gpu(1).nvlinks[3].errors = {"replay": 10, "crc_flit": 0}
    after.gpu(1).nvlinks[3].errors = {"replay": 25, "crc_flit": 0}
    [finding] = diagnose(Inputs(after, earlier_probe=before))
    assert finding.title == "NVLink error counters are rising on GPU1"
    assert [(e.label, e.value) for e in finding.evidence] == [("link 3 replay errors", 15)]


def test_it_prints_findings_from_the_cli(tmp_path, capsys):
    launch = tmp_path / "launch.sh"
    launch.write_text(WORKED_LINE + "\n")
    files = [str(FIXTURES / n) for n in ("h100-nvl-4gpu-link-down.topo-m.txt",
                                        "h100-nvl-4gpu-link-down.nvlink-s.txt")]
    assert main(["diagnose", *files, str(launch)]) == 0
    out = capsys.readouterr().out
    assert "[CRITICAL] The NVLink between GPU0 and GPU1 is down" in out
    assert "lesson: tp-or-replicas" in out


def test_it_loads_measurements_and_configs_from_json(tmp_path):
    (tmp_path / "m.json").write_text('{"measurements": [{"gpus": [0, 1], "busbw_GBps": 20}]}')
    (tmp_path / "acme-9b.json").write_text(
        '{"hidden_size": 4096, "num_hidden_layers": 40, "num_attention_heads": 32, '
        '"intermediate_size": 12288, "vocab_size": 64000}')
    (tmp_path / "launch.txt").write_text("vllm serve acme-9b -tp 2\n")
    inputs = load([str(tmp_path / n) for n in ("m.json", "acme-9b.json", "launch.txt")])
    assert inputs.measurements[0].large_message_busbw_Bps() == 20e9
    assert inputs.deployments[0].shape.num_hidden_layers == 40


def test_it_explains_unreadable_inputs(tmp_path, capsys):
    truncated = tmp_path / "topo.txt"
    truncated.write_text("\n".join((FIXTURES / "h100-sxm-8gpu.topo-m.txt").read_text().split("\n")[:3]))
    assert main(["diagnose", str(truncated)]) == 2
    assert "line 3" in capsys.readouterr().out
    assert main(["oops"]) == 2
