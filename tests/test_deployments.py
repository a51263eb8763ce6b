"""Launch lines and the YAML form -> Deployment."""
import pytest

from tpworkers.deployments import DeploymentError, parse_deployments, parse_launch_line


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
