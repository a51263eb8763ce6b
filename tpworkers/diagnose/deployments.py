"""Deployments read from pasted text: launch lines or a small YAML form (each one a
deployment_fields.Deployment, its fields checked there).

Launch lines understood (flags as the engines document them: vLLM engine arguments,
SGLang server arguments, TensorRT-LLM trtllm-serve, PyTorch torchrun):
  [CUDA_VISIBLE_DEVICES=0,1] vllm serve MODEL --tensor-parallel-size 2 | -tp 2 | --tensor-parallel-size=2
  python -m vllm.entrypoints.openai.api_server --model MODEL --tensor-parallel-size 4
  python -m sglang.launch_server --model-path MODEL --tp 2 [--nnodes 2]
  trtllm-serve MODEL --tp_size 2 [--pp_size 2]   (TensorRT-LLM; any command carrying --tp_size)
  torchrun --nnodes 1 --nproc-per-node 4 script.py --model MODEL   (TP = world size)
Pipeline parallelism: --pipeline-parallel-size / -pp (vLLM), --pp-size (SGLang), --pp_size
(TensorRT-LLM). Nodes: --nnodes (SGLang, torchrun). A deployment uses TP x PP GPUs, TP x PP /
nodes of them on each node; a TP group is TP consecutive GPUs (TP is the innermost rank).
YAML: ``model``, ``gpus``, ``tp``, optional ``pp``, ``dtype``, ``kv_dtype``, ``node``, ``nodes``,
``context_tokens``; one mapping, a list of them, or ``deployments: [...]``.
"""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

import yaml

from tpworkers.diagnose.deployment_fields import (Deployment, DeploymentError, NotADeployment, adopt_lone_config,
                                                  check_per_node, dtype_name, from_fields, gpu_list, resolve_shape,
                                                  whole_number)
from tpworkers.diagnose.limits import (MAX_CONTEXT_TOKENS, MAX_DEPLOYMENTS_PER_PASTE, MAX_GPUS_PER_NODE,
                                       MAX_LINE_CHARS, MAX_PARALLEL, shown)

_TP_FLAGS = ("--tensor-parallel-size", "-tp", "--tp", "--tp-size", "--tp_size")
_PP_FLAGS = ("--pipeline-parallel-size", "-pp", "--pp", "--pp-size", "--pp_size")
_MODEL_FLAGS = ("--model", "--model-path", "--model_dir", "--model-dir", "--checkpoint_dir",
                "--model_name_or_path", "--model-id")
_NPROC_FLAGS = ("--nproc-per-node", "--nproc_per_node")
# Flags that take no value: without this list the word after them (often the model) would be
# read as their value.
_VALUELESS_FLAGS = {
    "--trust-remote-code", "--enforce-eager", "--disable-log-requests", "--disable-log-stats",
    "--enable-prefix-caching", "--no-enable-prefix-caching", "--enable-chunked-prefill",
    "--disable-custom-all-reduce", "--enable-expert-parallel", "--enable-lora",
    "--disable-cuda-graph", "--disable-radix-cache", "--enable-torch-compile",
    "--enable-dp-attention", "--skip-tokenizer-init", "--standalone", "--no-python", "--no_python",
}
_QUANT_WEIGHTS = {"fp8": "fp8", "fbgemm_fp8": "fp8", "modelopt": "fp8", "awq": "int4",
                  "gptq": "int4", "awq_marlin": "int4", "gptq_marlin": "int4"}
MAX_NAME_CHARS = 200  # NodeDeployment.model's length


def _options(tokens: list[str]) -> tuple[dict[str, str], list[str]]:
    """--flag value / --flag=value / -tp 2 -> {flag: value}; bare words -> positionals."""
    options, positionals, i = {}, [], 0
    while i < len(tokens):
        token = tokens[i]
        if token.startswith("-"):
            flag, eq, value = token.partition("=")
            if (not eq and flag not in _VALUELESS_FLAGS and i + 1 < len(tokens)
                    and not tokens[i + 1].startswith("-")):
                value, i = tokens[i + 1], i + 1
            options[flag] = value
        else:
            positionals.append(token)
        i += 1
    return options, positionals


def parse_launch_line(line: str, configs: dict[str, dict] | None = None) -> Deployment:
    """One launch command -> Deployment; DeploymentError says what was not understood."""
    if len(line) > MAX_LINE_CHARS:  # shlex.split slows with the square of a token's length
        raise DeploymentError(f"a launch line of {len(line)} characters; at most {MAX_LINE_CHARS} are read")
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
    pp_flag = next((f for f in _PP_FLAGS if f in options), None)
    nodes = whole_number(options["--nnodes"].split(":")[-1], "--nnodes", MAX_PARALLEL) if "--nnodes" in options else 1
    if engine == "torchrun":
        nproc_flag = next((f for f in _NPROC_FLAGS if f in options), None)
        if nproc_flag is None:
            raise DeploymentError(f"torchrun line has no --nproc-per-node: {line!r}")
        tp = whole_number(options[nproc_flag], nproc_flag, MAX_GPUS_PER_NODE) * nodes
    else:
        tp = whole_number(options[tp_flag], tp_flag, MAX_PARALLEL) if tp_flag else 1
    pp = whole_number(options[pp_flag], pp_flag, MAX_PARALLEL) if pp_flag else 1
    check_per_node(tp, pp, nodes)
    quant = options.get("--quantization", options.get("-q", "")).lower()
    activation = dtype_name(options.get("--dtype", "auto"), "--dtype")
    if quant and quant not in _QUANT_WEIGHTS:
        raise DeploymentError(f"unknown --quantization {quant!r} (known: {', '.join(_QUANT_WEIGHTS)})")
    weights = _QUANT_WEIGHTS.get(quant) or ("fp8" if re.search(r"fp8", model, re.I) else activation)
    kv = options.get("--kv-cache-dtype", "auto")
    kv = activation if kv == "auto" else dtype_name(kv.split("_")[0], "--kv-cache-dtype")
    gpus = gpu_list(env["CUDA_VISIBLE_DEVICES"], "CUDA_VISIBLE_DEVICES") \
        if "CUDA_VISIBLE_DEVICES" in env else None
    context_flag = next((f for f in ("--max-model-len", "--context-length") if f in options), None)
    resolved = resolve_shape(model, configs or {})
    if not quant and resolved.get("shape") and resolved["shape"].quantization:
        weights = resolved["shape"].quantization  # an FP8 checkpoint: engines detect it from config.json
    return Deployment(engine=engine, model_ref=model, tp=tp, gpus=gpus, weight_dtype=weights,
                      kv_dtype=kv, activation_dtype=activation, nodes=nodes, pp=pp,
                      context_tokens=whole_number(options[context_flag], context_flag, MAX_CONTEXT_TOKENS)
                      if context_flag else None,
                      text=line.strip(), **resolved)


def _engine_and_model(tokens, options, positionals, line) -> tuple[str, str]:
    flag_model = next((options[f] for f in _MODEL_FLAGS if options.get(f)), None)
    words = " ".join(tokens)
    if "vllm" in positionals and "serve" in positionals:
        # `vllm serve MODEL ...`: the model is the word right after serve, whatever follows.
        after = tokens[tokens.index("serve") + 1:]
        positional = after[0] if after and not after[0].startswith("-") else None
        later = positionals[positionals.index("serve") + 1:]
        engine, model = "vllm", positional or flag_model or (later[0] if later else None)
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
        raise NotADeployment(f"not a vLLM, SGLang, TensorRT-LLM or torchrun launch line: {line!r}")
    if not model:
        raise DeploymentError(f"{engine} line names no model (positional or --model): {line!r}")
    return engine, model


def _text(entry: dict, name: str) -> str | None:
    """A YAML field that must be a short name (not a list, a mapping or a megabyte string)."""
    value = entry.get(name)
    if value is None:
        return None
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise DeploymentError(f"'{name}' must be a model name, got {shown(repr(value))}" if name == "model"
                              else f"'{name}' must be a name, got {shown(repr(value))}")
    if len(str(value)) > MAX_NAME_CHARS:
        raise DeploymentError(f"'{name}' has {len(str(value))} characters; at most {MAX_NAME_CHARS}")
    return str(value)


class _NoAliasLoader(yaml.SafeLoader):
    """safe_load without anchors/aliases: a 316-byte alias bomb expands to megabytes."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            raise yaml.composer.ComposerError(None, None, "YAML aliases (*name) are not accepted here",
                                              self.peek_event().start_mark)
        return super().compose_node(parent, index)


def parse_yaml(text: str, configs: dict[str, dict] | None = None) -> list[Deployment]:
    try:
        data = yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 (a SafeLoader)
    except (yaml.YAMLError, ValueError) as exc:  # ValueError: an integer of over 4300 digits
        raise DeploymentError(f"not valid YAML: {shown(str(exc))}") from None
    if isinstance(data, dict) and "deployments" in data:
        data = data["deployments"]
    entries = data if isinstance(data, list) else [data]
    if len(entries) > MAX_DEPLOYMENTS_PER_PASTE:
        raise DeploymentError(f"{len(entries)} deployments; at most {MAX_DEPLOYMENTS_PER_PASTE} per paste")
    return [_from_mapping(entry, configs or {}) for entry in entries]


def _from_mapping(entry: object, configs: dict[str, dict]) -> Deployment:
    if not isinstance(entry, dict) or "model" not in entry:
        raise DeploymentError(f"a YAML deployment needs at least 'model'; got {entry!r}")
    unknown = set(entry) - {"model", "gpus", "tp", "pp", "dtype", "kv_dtype", "node", "nodes",
                            "context_tokens"}
    if unknown:
        raise DeploymentError(f"unknown YAML field(s): {', '.join(sorted(unknown))}")
    model = _text(entry, "model") or ""
    gpus = gpu_list(entry["gpus"], "gpus") if "gpus" in entry else None
    pp = whole_number(entry.get("pp", 1), "pp", MAX_PARALLEL)
    tp = whole_number(entry.get("tp", len(gpus) // pp if gpus and len(gpus) >= pp else 1), "tp", MAX_PARALLEL)
    nodes = whole_number(entry.get("nodes", 1), "nodes", MAX_PARALLEL)
    check_per_node(tp, pp, nodes)
    context = entry.get("context_tokens")
    return from_fields(model, tp, str(entry.get("dtype", "bf16")), gpus, configs=configs, pp=pp,
                       kv_dtype=str(entry["kv_dtype"]) if "kv_dtype" in entry else None,
                       node=_text(entry, "node"), nodes=nodes,
                       context_tokens=None if context is None else whole_number(context, "context_tokens", MAX_CONTEXT_TOKENS),
                       text=yaml.safe_dump(entry, sort_keys=False).strip())


def parse_deployments(text: str, configs: dict[str, dict] | None = None) -> list[Deployment]:
    """A pasted block: YAML (first line 'key: ...' or '- ...') or launch lines, one per line
    (backslash continuations joined, # comments skipped)."""
    body = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if not body:
        raise NotADeployment("no launch line or YAML found")
    if re.match(r"^(-\s|[a-z_]+:(\s|$))", body[0].lstrip()):
        return parse_yaml(text, configs)
    joined = re.sub(r"\\\s*\n", " ", "\n".join(body))
    lines = [line for line in joined.splitlines() if line.strip()]
    if len(lines) > MAX_DEPLOYMENTS_PER_PASTE:
        raise DeploymentError(f"{len(lines)} launch lines; at most {MAX_DEPLOYMENTS_PER_PASTE} per paste")
    return [parse_launch_line(line, configs) for line in lines]


@dataclass(frozen=True)
class Paste:
    """The deployments of one paste box, each with the pasted config.json its shape came from
    (None for a catalog model), and what to say beside a config.json none of them needed."""

    deployments: list[tuple[Deployment, dict | None]]
    config_error: str = ""


def read_paste(text: str, config: dict | None = None) -> Paste:
    """The cluster page's paste box: launch lines or YAML, with at most one config.json, named
    by its ``_name_or_path`` ("pasted" without one) and taken for the only unknown model when
    that name matches none (adopt_lone_config). Raises DeploymentError naming what it could not
    read."""
    configs = {config.get("_name_or_path") or "pasted": config} if config else {}
    parsed = adopt_lone_config(parse_deployments(text, configs), configs)
    shaped = [d.shape_provenance == "reported" for d in parsed]  # their shape came from the config
    unused = bool(config) and not any(shaped)
    return Paste([(d, config if uses else None) for d, uses in zip(parsed, shaped)],
                 "no pasted deployment needs it: each model is in the catalog or another config.json names it"
                 if unused else "")
