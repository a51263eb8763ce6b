"""Model sizes from real config.json files (tests/fixtures/real/configs, each citing its Hub
URL): each architecture's defaults as transformers reads them, FP8 releases, mixture of
experts, catalog look-ups by version, and configs that cannot be."""
import json
from pathlib import Path

import pytest

from tpworkers.catalog import costmodel as cm
from tpworkers.catalog.links import Link
from tpworkers.catalog.modelshapes import ModelShape, get_model
from tpworkers.diagnose.deployments import parse_launch_line
from tpworkers.diagnose.findings import Inputs, diagnose
from tpworkers.diagnose.inputs import load

CONFIGS = Path(__file__).parent / "fixtures" / "real" / "configs"
REAL_NVSMI = Path(__file__).parent / "fixtures" / "real" / "nvsmi"


def config(name):
    return json.loads((CONFIGS / name).read_text())


def shape(name):
    return ModelShape.from_hf_config(config(name))


# Published sizes: Gemma 7B model card "8.54B"; Mixtral 46.7B total / 12.9B active (Mistral AI,
# "Mixtral of experts", 2023-12-11); Qwen1.5-MoE-A2.7B 14.3B / 2.7B and Qwen3-30B-A3B 30.5B /
# 3.3B (their model cards); Llama 3.1 8B 8.03B; Mistral 7B 7.24B.
@pytest.mark.parametrize("name, total, active", [
    ("gemma-7b.json", 8.54, 8.54), ("llama-3.1-8b-instruct-fp8.json", 8.03, 8.03),
    ("mistral-7b-v0.1.json", 7.24, 7.24), ("mistral-7b-v0.3.json", 7.25, 7.25),
    ("mixtral-8x7b-v0.1.json", 46.7, 12.9), ("qwen1.5-moe-a2.7b.json", 14.3, 2.7),
    ("qwen3-30b-a3b.json", 30.5, 3.3),
])
def test_it_counts_real_configs_as_published(name, total, active):
    s = shape(name)
    assert cm.param_count(s) / 1e9 == pytest.approx(total, rel=0.01)
    assert cm.active_param_count(s) / 1e9 == pytest.approx(active, rel=0.02)


def test_it_ties_gemmas_embeddings_as_transformers_does_when_the_config_is_silent():
    assert "tie_word_embeddings" not in config("gemma-7b.json")
    assert shape("gemma-7b.json").tie_word_embeddings is True
    assert shape("mistral-7b-v0.1.json").tie_word_embeddings is False


def test_it_keeps_an_fp8_release_s_embedding_and_lm_head_in_bf16():
    s = shape("llama-3.1-8b-instruct-fp8.json")
    assert s.quantization == "fp8"
    vocab = 2 * 128256 * 4096
    assert cm.weight_bytes(s, "fp8") == cm.param_count(s) - vocab + 2 * vocab
    assert cm.weight_bytes(s, "fp8") / 1e9 == pytest.approx(9.08, rel=0.005)


def test_it_takes_the_fp8_of_a_pasted_checkpoint_and_says_what_stays_bf16(tmp_path):
    (tmp_path / "llama8b").mkdir()
    (tmp_path / "llama8b" / "config.json").write_text((CONFIGS / "llama-3.1-8b-instruct-fp8.json").read_text())
    (tmp_path / "launch.txt").write_text("vllm serve /models/llama8b -tp 2\n")  # no fp8 in name or flags
    pair = Path(__file__).parent / "fixtures" / "nvsmi" / "h100-pcie-2gpu-bridge.nvlink-s.txt"
    inputs = load([str(pair), str(tmp_path / "llama8b" / "config.json"),
                   str(tmp_path / "launch.txt")])
    [dep] = inputs.deployments
    assert dep.weight_dtype == "fp8" and dep.shape_provenance == "reported"
    [not_needed] = [f for f in diagnose(inputs) if "not needed" in f.title]
    weights = next(e for e in not_needed.evidence if e.label.startswith("weights per GPU"))
    assert "1.05B of embedding and LM head at 2 B" in weights.source


def test_it_takes_the_fp8_of_the_lone_config_adopted_for_an_unknown_model(tmp_path):
    (tmp_path / "whatever.json").write_text((CONFIGS / "llama-3.1-8b-instruct-fp8.json").read_text())
    (tmp_path / "launch.txt").write_text("vllm serve /models/unknown-name -tp 2\n")
    [dep] = load([str(tmp_path / "whatever.json"), str(tmp_path / "launch.txt")]).deployments
    assert dep.weight_dtype == "fp8" and "the only pasted config.json" in dep.shape_source


def test_it_counts_the_embedding_all_reduce_and_the_logits_gather():
    node = load([str(REAL_NVSMI / "nv12-2gpu-mlx5.topo-m.txt")]).node
    dep = parse_launch_line("CUDA_VISIBLE_DEVICES=0,1 vllm serve mistralai/Mixtral-8x7B-v0.1 -tp 2")
    assert dep.shape.name == "Mixtral-8x7B"
    est = cm.decode_comm_per_token(dep.shape, 2, 8, "bf16", Link("x", "x", 1e11, 2e-6, "nvlink", ""))
    assert est.allreduces == 2 * 32 + 1 and est.gather_bytes == 8 * 32000 * 2
    assert diagnose(Inputs(node, [dep])) == []  # bridged pair, no GPU names: nothing to flag


def test_it_sizes_a_moe_deployment_and_names_expert_parallelism():
    node = load([str(REAL_NVSMI / "v100-sxm2-8gpu.topo-m.txt"), str(REAL_NVSMI / "v100-sxm2-8gpu.nvlink-s.txt")]).node
    dep = parse_launch_line("vllm serve mistralai/Mixtral-8x7B-Instruct-v0.1 -tp 2")
    [no_fit] = [f for f in diagnose(Inputs(node, [dep])) if "does not fit" in f.title]
    weights = next(e for e in no_fit.evidence if e.label.startswith("weights per GPU"))
    assert weights.value == pytest.approx(cm.weight_bytes(dep.shape, "bf16") / 2 / 1e9)
    assert "12.9B active" in weights.source and "--enable-expert-parallel" in weights.source
    assert "Use TP=4" in no_fit.recommendation


def test_it_splits_expert_ffns_only_by_tp_sizes_that_divide_them():
    s = shape("qwen1.5-moe-a2.7b.json")
    assert cm.tp_constraint_errors(s, 8) == []
    assert any("expert FFN size 1406" in e for e in cm.tp_constraint_errors(
        ModelShape.from_hf_config({**config("qwen1.5-moe-a2.7b.json"), "moe_intermediate_size": 1406}), 4))


@pytest.mark.parametrize("ref, name", [
    ("mistralai/Mistral-7B-v0.1", "Mistral-7B-v0.1"), ("mistralai/Mistral-7B-Instruct-v0.1", "Mistral-7B-v0.1"),
    ("mistralai/Mistral-7B-v0.3", "Mistral-7B-v0.3"), ("mistralai/Mistral-7B-Instruct-v0.3", "Mistral-7B-v0.3"),
    ("mistral-7b", "Mistral-7B-v0.3"),
])
def test_it_resolves_each_mistral_version_to_its_own_entry(ref, name):
    assert get_model(ref).name == name


def test_it_does_not_take_an_unknown_version_for_a_known_one():
    with pytest.raises(ValueError, match="not in the catalog"):
        get_model("mistralai/Mistral-7B-Instruct-v0.2")
    assert get_model("Mistral-7B-v0.1").vocab_size == 32000 and get_model("Mistral-7B-v0.1").sliding_window == 4096


@pytest.mark.parametrize("change, why", [
    ({"hidden_size": 4097}, "4097 is not divisible by num_attention_heads 32"),
    ({"hidden_size": 10**30}, "no model is that large"),
    ({"num_hidden_layers": 10**9}, "no model is that large"),
    ({"n_routed_experts": 256}, "DeepSeek-style configs"),
    ({"num_experts_per_tok": 9, "num_local_experts": 8}, "exceeds the 8 experts"),
])
def test_it_refuses_configs_that_cannot_be(change, why):
    with pytest.raises(ValueError, match=why):
        ModelShape.from_hf_config({**config("mistral-7b-v0.1.json"), **change})
