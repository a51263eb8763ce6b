"""Launch lines and the YAML form -> Deployment."""
import re

import pytest

from tpworkers.diagnose.deployment_fields import DeploymentError, adopt_lone_config
from tpworkers.diagnose.deployments import parse_deployments, parse_launch_line, read_paste


@pytest.mark.parametrize("line,engine,tp", [
    ("vllm serve meta-llama/Llama-3.1-70B-Instruct --tensor-parallel-size 4", "vllm", 4),
    ("vllm serve meta-llama/Llama-3.1-70B-Instruct -tp 8", "vllm", 8),
    ("vllm serve meta-llama/Llama-3.1-70B-Instruct --tensor-parallel-size=2", "vllm", 2),
    ("python -m vllm.entrypoints.openai.api_server --model meta-llama/Llama-3.1-70B "
     "--tensor-parallel-size 4", "vllm", 4),
    ("python -m sglang.launch_server --model-path meta-llama/Llama-3.1-70B --tp 2", "sglang", 2),
    ("trtllm-serve meta-llama/Llama-3.1-70B --tp_size 8", "trtllm", 8),
    ("torchrun --nproc-per-node 4 serve.py --model meta-llama/Llama-3.1-70B", "torchrun", 4),
    ("torchrun --nnodes 2 --nproc_per_node 8 serve.py --model meta-llama/Llama-3.1-70B", "torchrun", 16),
    ("vllm serve meta-llama/Llama-3.1-70B", "vllm", 1),
])
def test_it_reads_engine_and_tp_from_launch_lines(line, engine, tp):
    dep = parse_launch_line(line)
    assert (dep.engine, dep.tp, dep.shape.name) == (engine, tp, "Llama-3.1-70B")


def test_it_reads_the_worked_scenario_line():
    dep = parse_launch_line("CUDA_VISIBLE_DEVICES=0,1 vllm serve google/gemma-2-27b-it "
                            "--tensor-parallel-size 2 --quantization fp8")
    assert dep.gpus == (0, 1) and dep.gpu_indices == (0, 1)
    assert (dep.weight_dtype, dep.kv_dtype, dep.activation_dtype) == ("fp8", "bf16", "bf16")
    assert dep.shape.name == "Gemma-2-27B"


def test_it_reads_dtypes_and_kv_cache_dtype():
    dep = parse_launch_line("vllm serve mistralai/Mistral-7B-v0.3 --dtype half "
                            "--kv-cache-dtype fp8_e4m3 --max-model-len 16384")
    assert (dep.weight_dtype, dep.kv_dtype, dep.activation_dtype) == ("fp16", "fp8", "fp16")
    assert dep.context_tokens == 16384 and dep.gpu_indices == (0,)


def test_it_uses_a_pasted_config_for_models_outside_the_catalog():
    config = {"hidden_size": 5120, "num_hidden_layers": 40, "num_attention_heads": 40,
              "num_key_value_heads": 8, "intermediate_size": 13824, "vocab_size": 32000}
    dep = parse_launch_line("vllm serve acme/secret-13b -tp 2", {"acme/secret-13b": config})
    assert dep.shape.hidden_size == 5120 and dep.model_error is None
    unknown = parse_launch_line("vllm serve acme/other-13b -tp 2")
    assert unknown.shape is None and "not in the catalog" in unknown.model_error


def test_it_reads_the_yaml_form():
    deps = parse_deployments("# two groups\ndeployments:\n"
                             "  - {model: gemma-2-27b, gpus: [2, 3], dtype: fp8, node: box}\n"
                             "  - {model: Llama-3.1-8B, gpus: '0', tp: 1}\n")
    assert [(d.engine, d.tp, d.gpus, d.weight_dtype, d.activation_dtype) for d in deps] == [
        ("yaml", 2, (2, 3), "fp8", "bf16"), ("yaml", 1, (0,), "bf16", "bf16")]
    assert deps[0].node == "box"


def test_it_reads_several_launch_lines_with_continuations():
    deps = parse_deployments("vllm serve meta-llama/Llama-3.1-8B \\\n  -tp 2\n"
                             "python -m sglang.launch_server --model-path Qwen/Qwen2.5-72B --tp 8\n")
    assert [(d.engine, d.tp) for d in deps] == [("vllm", 2), ("sglang", 8)]


@pytest.mark.parametrize("text,message", [
    ("ls -la /tmp", "not a vLLM, SGLang"),
    ("vllm serve", "names no model"),
    ("vllm serve m -tp two", "whole number"),
    ("vllm serve m --quantization magic", "unknown --quantization 'magic'"),
    ("vllm serve m --dtype fp7", "'fp7'"),
    ("torchrun serve.py", "--nproc-per-node"),
    ("CUDA_VISIBLE_DEVICES=GPU-abc vllm serve m", "GPU indices"),
    ("model: x\ncolour: blue\n", "unknown YAML field(s): colour"),
    ("- gpus: [0]\n", "needs at least 'model'"),
    ("", "no launch line"),
])
def test_it_names_what_it_could_not_understand(text, message):
    with pytest.raises(DeploymentError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_deployments(text)


@pytest.mark.parametrize("text,message", [
    ("model: gemma-2-27b\ncontext_tokens: lots\n", "context_tokens needs a whole number, got 'lots'"),
    ("model: gemma-2-27b\ncontext_tokens: 0\n", "context_tokens must be at least 1, got 0"),
    ("model: gemma-2-27b\ncontext_tokens: 8192.5\n", "context_tokens needs a whole number"),
    ("model: gemma-2-27b\ntp: true\n", "tp needs a whole number, got True"),
    ("model: gemma-2-27b\ngpus: [0, 0]\n", "each GPU may be named once"),
])
def test_it_validates_yaml_numbers(text, message):
    with pytest.raises(DeploymentError, match=re.escape(message)):
        parse_deployments(text)


def test_it_keeps_a_valid_yaml_context():
    [dep] = parse_deployments("model: gemma-2-27b\ncontext_tokens: 4096\n")
    assert dep.context_tokens == 4096


@pytest.mark.parametrize("line", [
    "vllm serve --trust-remote-code google/gemma-2-27b-it -tp 2",
    "vllm serve google/gemma-2-27b-it --trust-remote-code -tp 2",
    "vllm serve google/gemma-2-27b-it --enforce-eager --tensor-parallel-size 2",
    "python -m sglang.launch_server --trust-remote-code --model-path google/gemma-2-27b-it --tp 2",
])
def test_it_does_not_let_a_valueless_flag_swallow_the_model(line):
    dep = parse_launch_line(line)
    assert (dep.model_ref, dep.tp, dep.shape.name) == ("google/gemma-2-27b-it", 2, "Gemma-2-27B")


def test_it_reads_pipeline_parallelism_and_nodes():
    vllm = parse_launch_line("vllm serve meta-llama/Llama-3.1-70B -tp 4 --pipeline-parallel-size 2")
    assert (vllm.tp, vllm.pp, vllm.gpu_indices) == (4, 2, tuple(range(8)))
    assert vllm.tp_groups() == [(0, 1, 2, 3), (4, 5, 6, 7)] and not vllm.tp_spans_nodes
    sglang = parse_launch_line("python -m sglang.launch_server --model-path meta-llama/Llama-3.1-405B "
                               "--tp 16 --nnodes 2")
    assert (sglang.tp, sglang.nodes, sglang.gpus_per_node) == (16, 2, 8) and sglang.tp_spans_nodes
    assert sglang.tp_groups() == [] and sglang.gpu_indices == tuple(range(8))
    across = parse_launch_line("python -m sglang.launch_server --model-path meta-llama/Llama-3.1-405B "
                               "--tp 8 --pp-size 2 --nnodes 2")
    assert not across.tp_spans_nodes and across.tp_groups() == [tuple(range(8))]
    [yaml_dep] = parse_deployments("model: Llama-3.1-70B\ngpus: [0, 1, 2, 3]\npp: 2\n")
    assert (yaml_dep.tp, yaml_dep.pp, yaml_dep.tp_groups()) == (2, 2, [(0, 1), (2, 3)])


def test_it_says_where_the_model_shape_came_from():
    catalog = parse_launch_line("vllm serve google/gemma-2-27b-it")
    assert catalog.shape_provenance == "modelled" and "huggingface.co/google/gemma-2-27b" in catalog.shape_source
    config = {"hidden_size": 5120, "num_hidden_layers": 40, "num_attention_heads": 40,
              "intermediate_size": 13824, "vocab_size": 32000}
    pasted = parse_launch_line("vllm serve /models/my-model -tp 2", {"myorg/my-model": config})
    assert pasted.shape.num_hidden_layers == 40 and pasted.shape_provenance == "reported"
    assert pasted.shape_source == "pasted config.json 'myorg/my-model'"


def test_it_takes_the_only_config_for_the_only_unknown_model():
    config = {"hidden_size": 5120, "num_hidden_layers": 40, "num_attention_heads": 40,
              "intermediate_size": 13824, "vocab_size": 32000}
    deps = parse_deployments("vllm serve acme/secret-13b -tp 2\nvllm serve google/gemma-2-27b-it\n",
                             {"config": config})
    assert deps[0].shape is None
    adopted = adopt_lone_config(deps, {"config": config})
    assert adopted[0].shape.hidden_size == 5120 and adopted[0].shape_provenance == "reported"
    assert "the only pasted config.json ('config'), taken for acme/secret-13b" in adopted[0].shape_source
    assert adopted[1] == deps[1]
    two_unknown = parse_deployments("vllm serve acme/a\nvllm serve acme/b\n")
    assert adopt_lone_config(two_unknown, {"config": config}) == two_unknown


def test_it_pairs_each_pasted_deployment_with_the_config_json_its_shape_came_from():
    config = {"_name_or_path": "acme/secret-13b", "hidden_size": 5120, "num_hidden_layers": 40,
              "num_attention_heads": 40, "intermediate_size": 13824, "vocab_size": 32000}
    paste = read_paste("vllm serve acme/secret-13b -tp 2\nvllm serve meta-llama/Llama-3.1-70B\n", config)
    assert [(d.model_ref, used) for d, used in paste.deployments] == [
        ("acme/secret-13b", config), ("meta-llama/Llama-3.1-70B", None)]
    assert paste.config_error == ""
    unnamed = {key: value for key, value in config.items() if key != "_name_or_path"}
    [(dep, used)] = read_paste("vllm serve acme/other -tp 2", unnamed).deployments  # the only unknown model
    assert used == unnamed and "the only pasted config.json ('pasted')" in dep.shape_source


def test_it_says_when_no_pasted_deployment_needs_the_config_json():
    config = {"hidden_size": 5120, "num_hidden_layers": 40, "num_attention_heads": 40,
              "intermediate_size": 13824, "vocab_size": 32000}
    paste = read_paste("vllm serve meta-llama/Llama-3.1-70B -tp 2", config)
    assert paste.deployments[0][1] is None and paste.config_error.startswith("no pasted deployment needs it")
    assert read_paste("vllm serve meta-llama/Llama-3.1-70B -tp 2").config_error == ""


def test_it_reports_a_bad_pasted_config_as_the_models_problem():
    dep = parse_launch_line("vllm serve acme/x", {"acme/x": {"hidden_size": 8}})
    assert dep.shape is None and "pasted config.json 'acme/x'" in dep.model_error
