"""Findings rules, the worked scenario end to end, and the diagnose CLI."""
import json
from pathlib import Path

import pytest

from tpworkers.catalog import costmodel
from tpworkers.diagnose.clusterview import heatmap
from tpworkers.diagnose.deployments import parse_deployments, parse_launch_line
from tpworkers.diagnose.__main__ import main
from tpworkers.diagnose.inputs import load
from tpworkers.diagnose.findings import Inputs, diagnose
from tpworkers.catalog.links import get_link
from tpworkers.catalog.modelshapes import get_model
from tpworkers.diagnose.nvsmi_parse import parse
from tpworkers.diagnose.pairlinks import pair_link
from tpworkers.diagnose.topology import NVML, Node, PairMeasurement, Topology, put
from tpworkers.diagnose.topology_merge import merge

FIXTURES = Path(__file__).parent / "fixtures" / "nvsmi"
WORKED_LINE = ("CUDA_VISIBLE_DEVICES=0,1 vllm serve google/gemma-2-27b-it "
               "--tensor-parallel-size 2 --quantization fp8")


def node_from(*names):
    return merge(*(parse((FIXTURES / n).read_text())[1] for n in names))


WORKED_FILES = ("h100-nvl-4gpu-link-down.topo-m.txt", "h100-nvl-4gpu-link-down.nvlink-s.txt",
                "h100-nvl-4gpu-link-down.p2p-r.txt")


def worked_node():
    return node_from(*WORKED_FILES)


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
    assert crossing[0].recommendation.startswith("Either run TP=1 replicas")
    assert "or move the TP group to GPU2+GPU3" in crossing[0].recommendation
    assert "alpha = 10 us per ring step (assumed), B = 64 GB/s" in costs["now: TP=2 on GPU0+GPU1 over PCIe"].source
    assert "PCIe generation not reported, Gen5 x16 assumed" in costs["now: TP=2 on GPU0+GPU1 over PCIe"].source
    assert "alpha = 2 us per ring step (assumed), B = 300 GB/s" in costs["option: TP=2 on GPU2+GPU3"].source

    [not_needed] = by_lesson(found, "tp-or-replicas")
    assert "not needed" in not_needed.title and "fits one 94 GB GPU" in not_needed.title
    weights = next(e for e in not_needed.evidence if e.label == "weights per GPU at TP=1")
    assert weights.provenance == "modelled"
    assert weights.value == pytest.approx(costmodel.weight_bytes(gemma, "fp8") / 1e9)
    assert "replicas" in not_needed.recommendation
    memory = next(e for e in not_needed.evidence if e.label == "GPU memory")
    assert memory.provenance == "modelled" and "datasheet" in memory.source and "https://" in memory.source
    kv = next(e for e in not_needed.evidence if e.label == "KV cache per GPU at TP=1")
    assert "upper bound" in kv.source and "4096 tokens" in kv.source


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
    assert [f.title for f in found] == ["GPU1-GPU3's bond (NV2) looks short: GPU1 and GPU3 have 10 "
                                        "NVLinks to their peers in all; other GPUs of this node 12"]


def test_it_warns_when_tp_runs_on_a_pcie_only_node():
    node = node_from("pcie-8gpu.topo-m.txt")
    dep = parse_launch_line("vllm serve meta-llama/Llama-3.1-70B -tp 4")
    [crossing] = [f for f in diagnose(Inputs(node, [dep])) if "cross PCIe" in f.title]
    assert crossing.severity == "warning" and "GPU2+GPU3" not in crossing.recommendation
    assert "Either" not in crossing.recommendation and "TP=1" not in crossing.recommendation


def test_it_calls_tp_over_pcie_critical_from_the_matrix_alone_when_other_pairs_have_nvlink():
    node = node_from("h100-nvl-4gpu-link-down.topo-m.txt")  # no GPU names, GPU2-GPU3 NV12
    dep = parse_launch_line(WORKED_LINE)
    [crossing] = [f for f in diagnose(Inputs(node, [dep])) if "cross PCIe" in f.title]
    assert crossing.severity == "critical"
    assert crossing.recommendation.startswith("Move the TP group to GPU2+GPU3")  # memory unknown: no TP=1


def test_it_offers_tp1_replicas_only_when_the_model_fits_one_gpu():
    dep = parse_launch_line("CUDA_VISIBLE_DEVICES=0,1 vllm serve meta-llama/Llama-3.1-70B -tp 2 "
                            "--quantization fp8")
    [crossing] = [f for f in diagnose(Inputs(worked_node(), [dep])) if "cross PCIe" in f.title]
    assert not costmodel.memory_fit(get_model("Llama-3.1-70B"), "fp8", 94e9, 8192, 8, kv_dtype="bf16").fits
    assert "TP=1" not in crossing.recommendation and "option: TP=1 replicas" not in [e.label for e in crossing.evidence]
    assert crossing.recommendation.startswith("Move the TP group to GPU2+GPU3") and "Either" not in crossing.recommendation


def test_it_says_no_nvlink_is_active_rather_than_down_when_no_gpu_has_a_link_up():
    text = (FIXTURES / "h100-pcie-2gpu-bridge.nvlink-s.txt").read_text().replace("26.562 GB/s", "<inactive>")
    [finding] = diagnose(Inputs(parse(text)[1]))
    assert finding.severity == "info" and finding.title.startswith("No NVLink is active on this node")
    assert "down" not in finding.title and "bridges" in finding.recommendation


def test_it_compares_a_measured_pair_with_its_own_bond_not_the_whole_gpu():
    a100 = node_from("a100-4gpu-some-links-inactive.topo-m.txt", "a100-4gpu-some-links-inactive.nvlink-s.txt")
    bond = pair_link(a100, 0, 1)  # NV4: 100 GB/s per direction, a third of an A100's NVLink
    assert bond.bandwidth_Bps == 100e9 and heatmap(a100, {}).pairs[0].peak_GBps == bond.bandwidth_Bps / 1e9
    fine = PairMeasurement(gpus=(0, 1), busbw_Bps=0.3 * bond.bandwidth_Bps)
    assert not [f for f in diagnose(Inputs(a100, measurements=[fine])) if "bandwidth" in f.title]
    slow = PairMeasurement(gpus=(0, 1), busbw_Bps=0.2 * bond.bandwidth_Bps)
    [finding] = [f for f in diagnose(Inputs(a100, measurements=[slow])) if "bandwidth" in f.title]
    assert [e.value for e in finding.evidence if e.provenance == "modelled"] == [bond.bandwidth_Bps / 1e9]


def test_it_rejects_an_invalid_tp_size():
    dep = parse_launch_line("vllm serve meta-llama/Llama-3.1-70B -tp 3")
    [finding] = diagnose(Inputs(node_from("h100-sxm-8gpu.topo-m.txt"), [dep]))
    assert finding.severity == "critical" and "64 heads are not divisible by TP=3" in finding.title
    assert "1, 2, 4, 8 (up to this node's 8 GPUs)" in finding.recommendation and finding.lesson == "sizing-tp"
    [on_four] = by_lesson(diagnose(Inputs(worked_node(), [dep])), "sizing-tp")
    assert "1, 2, 4 (up to this node's 4 GPUs)" in on_four.recommendation
    by_label = {e.label: e for e in finding.evidence}
    assert (by_label["TP size"].provenance, by_label["TP size"].source) == ("reported", "the launch line")
    assert by_label["attention heads"].provenance == "modelled" and "catalog" in by_label["attention heads"].source


def test_it_labels_head_counts_of_a_pasted_config_reported(tmp_path):
    (tmp_path / "acme-9b.json").write_text(
        '{"hidden_size": 4096, "num_hidden_layers": 40, "num_attention_heads": 32, '
        '"intermediate_size": 12288, "vocab_size": 64000}')
    (tmp_path / "launch.txt").write_text("vllm serve acme/acme-9b -tp 3\n")
    [finding] = diagnose(load([str(tmp_path / "acme-9b.json"), str(tmp_path / "launch.txt")]))
    heads = next(e for e in finding.evidence if e.label == "attention heads")
    assert (heads.provenance, heads.source) == ("reported", "pasted config.json 'acme-9b'")


def test_it_says_when_a_model_does_not_fit():
    dep = parse_launch_line("CUDA_VISIBLE_DEVICES=0 vllm serve meta-llama/Llama-3.1-70B")
    [finding] = diagnose(Inputs(node_from("h100-sxm-8gpu.nvlink-s.txt"), [dep]))
    assert "does not fit at TP=1" in finding.title and finding.lesson == "sizing-tp"
    fitting = [t for t in costmodel.valid_tp_sizes(get_model("Llama-3.1-70B"), 8) if t > 1 and
               costmodel.memory_fit(get_model("Llama-3.1-70B"), "bf16", 80e9, 8192, 8, tp=t).fits]
    assert finding.recommendation.startswith(f"Use TP={fitting[0]} (or {', '.join(map(str, fitting[1:]))})")
    memory = next(e for e in finding.evidence if e.label == "GPU memory")
    assert memory.provenance == "reported" and "NVIDIA H100 80GB HBM3" in memory.source


def test_it_offers_only_larger_tp_sizes_that_this_node_has():
    dep = parse_launch_line("vllm serve meta-llama/Llama-3.1-70B -tp 2")
    [finding] = diagnose(Inputs(node_from("h100-pcie-2gpu-bridge.nvlink-s.txt"), [dep]))
    assert "does not fit at TP=2" in finding.title
    assert finding.recommendation.startswith("This node's 2 GPUs allow no larger valid TP than 2, and none fits")
    assert "smaller weight dtype" in finding.recommendation and "more GPUs" in finding.recommendation
    assert "1, 2" not in finding.recommendation


@pytest.mark.parametrize("line, title", [
    ("CUDA_VISIBLE_DEVICES=2,3 vllm serve meta-llama/Llama-3.1-8B -tp 4",
     "TP=4 needs 4 GPUs on this node but only 2 are named (GPU2+GPU3)"),
    ("CUDA_VISIBLE_DEVICES=0,9 vllm serve meta-llama/Llama-3.1-8B -tp 2",
     "GPU9 is not on this node (it has GPU0..GPU3)"),
    ("CUDA_VISIBLE_DEVICES=0,1,2 vllm serve meta-llama/Llama-3.1-8B -tp 2 -pp 2",
     "TP=2 x PP=2 needs 4 GPUs on this node but only 3 are named (GPU0..GPU2)"),
])
def test_it_flags_gpus_a_deployment_names_wrongly(line, title):
    found = diagnose(Inputs(worked_node(), [parse_launch_line(line)]))
    [finding] = [f for f in found if f.lesson != "the-wire"]
    assert (finding.severity, finding.title) == ("critical", title)


def test_it_flags_gpus_a_yaml_deployment_names_beyond_the_node():
    [dep] = parse_deployments("model: Llama-3.1-8B\ngpus: [0, 9]\n")
    [finding] = [f for f in diagnose(Inputs(worked_node(), [dep])) if f.lesson != "the-wire"]
    assert finding.title == "GPU9 is not on this node (it has GPU0..GPU3)"
    assert [e.source for e in finding.evidence][0] == "the deployment YAML"


def test_it_says_which_named_gpus_stay_idle():
    dep = parse_launch_line("CUDA_VISIBLE_DEVICES=2,3 vllm serve meta-llama/Llama-3.1-8B")
    [finding] = [f for f in diagnose(Inputs(worked_node(), [dep])) if f.lesson != "the-wire"]
    assert (finding.severity, finding.title) == ("info", "GPU3 stays idle: TP=1 uses 1 of the 2 GPUs named")


def test_it_checks_every_tp_group_of_a_pipeline():
    dep = parse_launch_line("vllm serve google/gemma-2-27b-it -tp 2 --pipeline-parallel-size 2 -q fp8")
    crossing = [f for f in diagnose(Inputs(worked_node(), [dep])) if "cross PCIe" in f.title]
    assert [f.title for f in crossing] == ["This TP group's all-reduces cross PCIe: GPU0-GPU1 has no NVLink"]


def test_it_warns_when_sglang_spreads_tp_over_nodes():
    dep = parse_launch_line("python -m sglang.launch_server --model-path meta-llama/Llama-3.1-405B "
                            "--tp 16 --nnodes 2")
    found = diagnose(Inputs(node_from("h100-sxm-8gpu.topo-m.txt", "h100-sxm-8gpu.nvlink-s.txt"), [dep]))
    assert [f.title for f in by_lesson(found, "all-reduce-tax")] == [
        "TP=16 spans nodes: every all-reduce crosses the network"]


def test_it_warns_when_tp_spans_nodes():
    dep = parse_launch_line("torchrun --nnodes 2 --nproc-per-node 8 serve.py "
                            "--model meta-llama/Llama-3.1-405B")
    found = diagnose(Inputs(node_from("h100-sxm-8gpu.topo-m.txt", "h100-sxm-8gpu.nvlink-s.txt"), [dep]))
    [spans] = by_lesson(found, "all-reduce-tax")
    network, nvlink = [e for e in spans.evidence if e.unit == "ms/token"]
    assert network.value > nvlink.value > 0 and "TP <= 8" in spans.recommendation
    assert "NVLink 4 (H100/H200 SXM" in nvlink.label and "InfiniBand NDR assumed" in network.source
    gpus = next(e for e in spans.evidence if e.label == "GPUs on this node")
    assert (gpus.value, gpus.provenance) == (8, "reported")


def test_it_compares_a_pcie_node_spanning_tp_with_its_own_pcie():
    dep = parse_launch_line("torchrun --nnodes 2 --nproc-per-node 8 serve.py --model meta-llama/Llama-3.1-405B")
    [spans] = by_lesson(diagnose(Inputs(node_from("pcie-8gpu.topo-m.txt"), [dep])), "all-reduce-tax")
    local = [e for e in spans.evidence if e.label.startswith("for comparison")]
    assert len(local) == 1 and "PCIe Gen4 x16" in local[0].label and spans.severity == "info"


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


def test_it_names_the_source_of_a_weak_bond():
    node = node_from("a100-4gpu-some-links-inactive.topo-m.txt")
    for pair in node.pairs:
        pair.sources["nvlink_count"] = NVML
    [finding] = diagnose(Inputs(node))
    assert {e.source for e in finding.evidence} == {"NVML"}


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
    assert main([*files, str(launch)]) == 0
    out = capsys.readouterr().out
    assert "[CRITICAL] The NVLink between GPU0 and GPU1 is down" in out
    assert "lesson: tp-or-replicas" in out


def test_it_reads_an_earlier_probe_from_the_cli(tmp_path, capsys):
    before, after = node_from("h100-pcie-2gpu-bridge.nvlink-s.txt"), node_from("h100-pcie-2gpu-bridge.nvlink-s.txt")
    before.gpu(0).nvlinks[5].errors = {"crc_flit": 1}
    after.gpu(0).nvlinks[5].errors = {"crc_flit": 40}
    (tmp_path / "yesterday.json").write_text(json.dumps(Topology([before]).to_dict()))
    (tmp_path / "today.json").write_text(json.dumps(Topology([after]).to_dict()))
    assert main(["--earlier", str(tmp_path / "yesterday.json"), str(tmp_path / "today.json")]) == 0
    out = capsys.readouterr().out
    assert "[WARNING] NVLink error counters are rising on GPU0" in out and "link 5 crc_flit errors: 39" in out
    assert main([str(tmp_path / "today.json"), "--earlier"]) == 2
    assert "argument --earlier: expected one argument" in capsys.readouterr().err


def test_it_matches_a_config_json_by_its_folder_name(tmp_path):
    folder = tmp_path / "my-model"
    folder.mkdir()
    (folder / "config.json").write_text(
        '{"hidden_size": 4096, "num_hidden_layers": 40, "num_attention_heads": 32, '
        '"intermediate_size": 12288, "vocab_size": 64000}')
    (tmp_path / "launch.txt").write_text("vllm serve myorg/my-model -tp 2\n")
    [dep] = load([str(folder / "config.json"), str(tmp_path / "launch.txt")]).deployments
    assert dep.shape.num_hidden_layers == 40 and dep.shape_source == "pasted config.json 'my-model'"


def test_it_takes_the_only_config_for_the_only_unknown_model_and_says_so(tmp_path):
    (tmp_path / "cfg.json").write_text(
        '{"hidden_size": 4096, "num_hidden_layers": 40, "num_attention_heads": 32, '
        '"intermediate_size": 12288, "vocab_size": 64000}')
    (tmp_path / "launch.txt").write_text("CUDA_VISIBLE_DEVICES=0,1 vllm serve acme/other -tp 2\n")
    files = [str(FIXTURES / n) for n in WORKED_FILES] + [str(tmp_path / "cfg.json"), str(tmp_path / "launch.txt")]
    found = diagnose(load(files))
    [not_needed] = by_lesson(found, "tp-or-replicas")
    weights = next(e for e in not_needed.evidence if e.label == "weights per GPU at TP=1")
    assert "the only pasted config.json ('cfg'), taken for acme/other" in weights.source


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
    assert main([str(truncated)]) == 2
    assert "line 3" in capsys.readouterr().out
    assert main(["oops"]) == 2
    lots = tmp_path / "deploy.yaml"
    lots.write_text("model: gemma-2-27b\ngpus: [0, 1]\ncontext_tokens: lots\n")
    assert main([str(FIXTURES / "h100-nvl-4gpu-link-down.topo-m.txt"), str(lots)]) == 2
    assert "context_tokens needs a whole number, got 'lots'" in capsys.readouterr().out
