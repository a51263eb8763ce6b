"""Deployments from launch lines or a small YAML form: engine, model shape, TP, GPUs, dtypes.

Launch lines understood (flags as the engines document them: vLLM engine arguments,
SGLang server arguments, TensorRT-LLM trtllm-serve, PyTorch torchrun):
  [CUDA_VISIBLE_DEVICES=0,1] vllm serve MODEL --tensor-parallel-size 2 | -tp 2 | --tensor-parallel-size=2
  python -m vllm.entrypoints.openai.api_server --model MODEL --tensor-parallel-size 4
  python -m sglang.launch_server --model-path MODEL --tp 2
  trtllm-serve MODEL --tp_size 2   (TensorRT-LLM; any command carrying --tp_size)
  torchrun --nnodes 1 --nproc-per-node 4 script.py --model MODEL   (TP = world size)
YAML: ``model``, ``gpus``, ``tp``, ``dtype``, optional ``kv_dtype``, ``node``, ``nodes``,
``context_tokens``; one mapping, a list of them, or ``deployments: [...]``.
Weight dtype: --quantization/-q fp8 -> fp8, awq/gptq -> int4, else --dtype (auto -> bf16).
All-reduces carry activations: --dtype, bf16 when auto (FP8 weights still reduce bf16).
"""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

import yaml

from tpworkers.costmodel import dtype_bytes
from tpworkers.modelshapes import ModelShape, get_model

_TP_FLAGS = ("--tensor-parallel-size", "-tp", "--tp", "--tp-size", "--tp_size")
_MODEL_FLAGS = ("--model", "--model-path", "--model_dir", "--model-dir", "--checkpoint_dir",
                "--model_name_or_path", "--model-id")
_NPROC_FLAGS = ("--nproc-per-node", "--nproc_per_node")
_QUANT_WEIGHTS = {"fp8": "fp8", "fbgemm_fp8": "fp8", "modelopt": "fp8", "awq": "int4",
                  "gptq": "int4", "awq_marlin": "int4", "gptq_marlin": "int4"}
_DTYPE_ALIASES = {"auto": "bf16", "half": "fp16", "float": "fp32", "bfloat16": "bf16",
                  "float16": "fp16", "float32": "fp32"}


class DeploymentError(ValueError):
    pass


@dataclass(frozen=True)
class Deployment:
    engine: str  # vllm | sglang | trtllm | torchrun | yaml
    model_ref: str
    shape: ModelShape | None  # None when the model could not be resolved (see model_error)
    tp: int
    gpus: tuple[int, ...] | None  # None: the engine takes GPUs 0..tp-1
    weight_dtype: str
    kv_dtype: str
    activation_dtype: str
    node: str | None = None
    nodes: int = 1
    context_tokens: int | None = None
    model_error: str | None = None
    text: str = ""

    @property
    def gpu_indices(self) -> tuple[int, ...]:
        return self.gpus if self.gpus is not None else tuple(range(self.tp))


def _resolve(ref: str, configs: dict[str, dict]) -> tuple[ModelShape | None, str | None]:
    if ref in configs:
        return ModelShape.from_hf_config(configs[ref], name=ref), None
    try:
        return get_model(ref), None
    except ValueError as exc:
        return None, str(exc)


def _dtype(value: str, what: str) -> str:
    name = _DTYPE_ALIASES.get(value.lower(), value.lower())
    try:
        dtype_bytes(name)
    except ValueError as exc:
        raise DeploymentError(f"{what}: {exc}") from None
    return name


def _gpu_list(value: object, what: str) -> tuple[int, ...]:
    items = value if isinstance(value, list) else str(value).split(",")
    try:
        return tuple(int(str(item).strip()) for item in items if str(item).strip())
    except ValueError:
        raise DeploymentError(f"{what} must list GPU indices like 0,1; got {value!r}") from None


def _options(tokens: list[str]) -> tuple[dict[str, str], list[str]]:
    """--flag value / --flag=value / -tp 2 -> {flag: value}; bare words -> positionals."""
    options, positionals, i = {}, [], 0
    while i < len(tokens):
        token = tokens[i]
        if token.startswith("-"):
            flag, eq, value = token.partition("=")
            if not eq and i + 1 < len(tokens) and not tokens[i + 1].startswith("-"):
                value, i = tokens[i + 1], i + 1
            options[flag] = value
        else:
            positionals.append(token)
        i += 1
    return options, positionals


def parse_launch_line(line: str, configs: dict[str, dict] | None = None) -> Deployment:
    """One launch command -> Deployment; DeploymentError says what was not understood."""
    try:
        tokens = shlex.split(line.replace("\\\n", " "))
    except ValueError as exc:
        raise DeploymentError(f"cannot split {line!r} into words: {exc}") from None
    env = {}
    while tokens and (tokens[0] in ("env", "export") or re.match(r"^[A-Z_][A-Z0-9_]*=", tokens[0])):
        key, _, value = tokens.pop(0).partition("=")
        if value or key not in ("env", "export"):
            env[key] = value
    options, positionals = _options(tokens)
    engine, model = _engine_and_model(tokens, options, positionals, line)
    tp_flag = next((f for f in _TP_FLAGS if f in options), None)
    nodes = 1
    if engine == "torchrun":
        nproc_flag = next((f for f in _NPROC_FLAGS if f in options), None)
        if nproc_flag is None:
            raise DeploymentError(f"torchrun line has no --nproc-per-node: {line!r}")
        nodes = int(options.get("--nnodes", "1").split(":")[-1])
        tp = _int(options[nproc_flag], nproc_flag) * nodes
    else:
        tp = _int(options[tp_flag], tp_flag) if tp_flag else 1
    quant = options.get("--quantization", options.get("-q", "")).lower()
    activation = _dtype(options.get("--dtype", "auto"), "--dtype")
    if quant and quant not in _QUANT_WEIGHTS:
        raise DeploymentError(f"unknown --quantization {quant!r} (known: {', '.join(_QUANT_WEIGHTS)})")
    weights = _QUANT_WEIGHTS.get(quant) or ("fp8" if re.search(r"fp8", model, re.I) else activation)
    kv = options.get("--kv-cache-dtype", "auto")
    kv = activation if kv == "auto" else _dtype(kv.split("_")[0], "--kv-cache-dtype")
    shape, error = _resolve(model, configs or {})
    gpus = _gpu_list(env["CUDA_VISIBLE_DEVICES"], "CUDA_VISIBLE_DEVICES") \
        if "CUDA_VISIBLE_DEVICES" in env else None
    context = options.get("--max-model-len") or options.get("--context-length")
    return Deployment(engine, model, shape, tp, gpus, weights, kv, activation, nodes=nodes,
                      context_tokens=_int(context, "--max-model-len") if context else None,
                      model_error=error, text=line.strip())


def _engine_and_model(tokens, options, positionals, line) -> tuple[str, str]:
    flag_model = next((options[f] for f in _MODEL_FLAGS if options.get(f)), None)
    words = " ".join(tokens)
    if "vllm" in positionals and "serve" in positionals:
        after = positionals[positionals.index("serve") + 1:]
        engine, model = "vllm", flag_model or (after[0] if after else None)
    elif "vllm.entrypoints" in words:
        engine, model = "vllm", flag_model
    elif "sglang" in words:
        engine, model = "sglang", flag_model
    elif "trtllm" in words or "--tp_size" in options:
        serve = [p for p in positionals if "trtllm-serve" in p]
        after = positionals[positionals.index(serve[0]) + 1:] if serve else []
        engine, model = "trtllm", flag_model or (after[0] if after else None)
    elif positionals and positionals[0].endswith("torchrun"):
        engine, model = "torchrun", flag_model or "?"
    else:
        raise DeploymentError(f"not a vLLM, SGLang, TensorRT-LLM or torchrun launch line: {line!r}")
    if not model:
        raise DeploymentError(f"{engine} line names no model (positional or --model): {line!r}")
    return engine, model


def _int(value: str, flag: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise DeploymentError(f"{flag} needs a whole number, got {value!r}") from None
    if number < 1:
        raise DeploymentError(f"{flag} must be at least 1, got {number}")
    return number


def parse_yaml(text: str, configs: dict[str, dict] | None = None) -> list[Deployment]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise DeploymentError(f"not valid YAML: {exc}") from None
    if isinstance(data, dict) and "deployments" in data:
        data = data["deployments"]
    entries = data if isinstance(data, list) else [data]
    return [_from_mapping(entry, configs or {}) for entry in entries]


def _from_mapping(entry: object, configs: dict[str, dict]) -> Deployment:
    if not isinstance(entry, dict) or "model" not in entry:
        raise DeploymentError(f"a YAML deployment needs at least 'model'; got {entry!r}")
    unknown = set(entry) - {"model", "gpus", "tp", "dtype", "kv_dtype", "node", "nodes",
                            "context_tokens"}
    if unknown:
        raise DeploymentError(f"unknown YAML field(s): {', '.join(sorted(unknown))}")
    model = str(entry["model"])
    gpus = _gpu_list(entry["gpus"], "gpus") if "gpus" in entry else None
    tp = _int(entry.get("tp", len(gpus) if gpus else 1), "tp")
    weights = _dtype(str(entry.get("dtype", "bf16")), "dtype")
    activation = "bf16" if dtype_bytes(weights) < 2 else weights
    kv = _dtype(str(entry.get("kv_dtype", activation)), "kv_dtype")
    shape, error = _resolve(model, configs)
    return Deployment("yaml", model, shape, tp, gpus, weights, kv, activation,
                      node=entry.get("node"), nodes=_int(entry.get("nodes", 1), "nodes"),
                      context_tokens=entry.get("context_tokens"), model_error=error,
                      text=yaml.safe_dump(entry, sort_keys=False).strip())


def parse_deployments(text: str, configs: dict[str, dict] | None = None) -> list[Deployment]:
    """A pasted block: YAML (first line 'key: ...' or '- ...') or launch lines, one per line
    (backslash continuations joined, # comments skipped)."""
    body = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if not body:
        raise DeploymentError("no launch line or YAML found")
    if re.match(r"^(-\s|[a-z_]+:(\s|$))", body[0].lstrip()):
        return parse_yaml(text, configs)
    joined = re.sub(r"\\\s*\n", " ", "\n".join(body))
    return [parse_launch_line(line, configs) for line in joined.splitlines() if line.strip()]
