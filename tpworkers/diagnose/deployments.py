"""Deployments from launch lines or a small YAML form: engine, model shape, TP, PP, GPUs, dtypes.

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
Weight dtype: --quantization/-q fp8 -> fp8, awq/gptq -> int4, else --dtype (auto -> bf16).
All-reduces carry activations: --dtype, bf16 when auto (FP8 weights still reduce bf16).
A model's shape comes from a pasted config.json named like it (its ``_name_or_path``, its file
or folder name, or the last part of the model's name: "my-model" for "myorg/my-model"), else
from the catalog; ``shape_provenance`` says which ("reported" / "modelled").
"""
from __future__ import annotations

import dataclasses
import re
import shlex
from dataclasses import dataclass

import yaml

from tpworkers.catalog.costmodel import default_kv_dtype, dtype_bytes
from tpworkers.catalog.gpus import parse_gpu_list
from tpworkers.catalog.modelshapes import ModelShape, catalog_source, get_model
from tpworkers.diagnose.limits import (MAX_CONTEXT_TOKENS, MAX_DEPLOYMENTS_PER_PASTE, MAX_GPUS_PER_NODE,
                                       MAX_LINE_CHARS, MAX_PARALLEL, NODE_SIZE_WHY, shown)

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
_DTYPE_ALIASES = {"auto": "bf16", "half": "fp16", "float": "fp32", "bfloat16": "bf16",
                  "float16": "fp16", "float32": "fp32"}


class DeploymentError(ValueError):
    pass


class NotADeployment(DeploymentError):
    """The text is no launch line or deployment YAML at all (not one with a mistake in it)."""


@dataclass(frozen=True)
class Deployment:
    engine: str  # vllm | sglang | trtllm | torchrun | yaml
    model_ref: str
    shape: ModelShape | None  # None when the model could not be resolved (see model_error)
    tp: int
    gpus: tuple[int, ...] | None  # None: the engine takes GPUs 0..tp*pp-1 of each node
    weight_dtype: str
    kv_dtype: str
    activation_dtype: str
    node: str | None = None
    nodes: int = 1
    context_tokens: int | None = None
    model_error: str | None = None
    text: str = ""
    pp: int = 1
    shape_provenance: str = ""  # "reported" (a pasted config.json) | "modelled" (the catalog)
    shape_source: str = ""  # which config.json or catalog entry, in words

    @property
    def gpus_per_node(self) -> int:
        return max(self.tp * self.pp // self.nodes, 1)

    @property
    def gpu_indices(self) -> tuple[int, ...]:
        return self.gpus if self.gpus is not None else tuple(range(self.gpus_per_node))

    @property
    def tp_spans_nodes(self) -> bool:
        return self.tp > self.gpus_per_node

    def tp_groups(self) -> list[tuple[int, ...]]:
        """This node's TP groups: TP consecutive GPUs each (none when TP spans nodes)."""
        gpus = self.gpu_indices
        if self.tp_spans_nodes:
            return []
        return [gpus[i:i + self.tp] for i in range(0, len(gpus) - self.tp + 1, self.tp)]


def _config_for(ref: str, configs: dict[str, dict]) -> str | None:
    """The pasted config.json named like ``ref``: same name, or same last path component."""
    if ref in configs:
        return ref
    last = _last_part(ref)
    return next((key for key in configs if _last_part(key) == last), None)


def _last_part(name: str) -> str:
    return name.strip().rstrip("/").split("/")[-1].lower()


def _resolve(ref: str, configs: dict[str, dict]) -> dict:
    """Deployment fields for the model's shape: from a pasted config.json, else the catalog."""
    key = _config_for(ref, configs)
    if key is not None:
        return _from_config(ref, key, configs[key], f"pasted config.json '{key}'")
    try:
        shape = get_model(ref)
    except ValueError as exc:
        return {"shape": None, "model_error": str(exc)}
    return {"shape": shape, "shape_provenance": "modelled",
            "shape_source": f"catalog entry {shape.name}, {catalog_source(shape.name)}"}


def _from_config(ref: str, key: str, config: dict, source: str) -> dict:
    try:
        shape = ModelShape.from_hf_config(config, name=ref)
    except ValueError as exc:
        return {"shape": None, "model_error": f"pasted config.json '{key}': {exc}"}
    return {"shape": shape, "shape_provenance": "reported", "shape_source": source,
            "model_error": None}


def adopt_lone_config(deployments: list[Deployment], configs: dict[str, dict]) -> list[Deployment]:
    """One pasted config.json whose name matches nothing, and one deployment whose model is
    unknown: the config is taken for that model, and its shape_source says so."""
    used = any(d.shape_provenance == "reported" for d in deployments)
    unknown = [i for i, d in enumerate(deployments) if d.shape is None]
    if len(configs) != 1 or used or len(unknown) != 1:
        return deployments
    [(key, config)] = configs.items()
    dep = deployments[unknown[0]]
    source = (f"the only pasted config.json ('{key}'), taken for {dep.model_ref}: "
              "its name does not match, but no other model was unknown")
    fields = _from_config(dep.model_ref, key, config, source)
    shape = fields.get("shape")
    if shape and shape.quantization and dep.weight_dtype == dep.activation_dtype:  # no --quantization given
        fields["weight_dtype"] = shape.quantization
    adopted = list(deployments)
    adopted[unknown[0]] = dataclasses.replace(dep, **fields)
    return adopted


def _dtype(value: str, what: str) -> str:
    name = _DTYPE_ALIASES.get(value.lower(), value.lower())
    try:
        dtype_bytes(name)
    except ValueError as exc:
        raise DeploymentError(f"{what}: {exc}") from None
    return name


def _gpu_list(value: object, what: str) -> tuple[int, ...]:
    try:
        gpus = parse_gpu_list(value)
    except ValueError as exc:
        raise DeploymentError(f"{what}: {exc}") from None
    if len(gpus) > MAX_GPUS_PER_NODE or any(g >= MAX_GPUS_PER_NODE for g in gpus):
        raise DeploymentError(f"{what}: GPU indices run from 0 to {MAX_GPUS_PER_NODE - 1}; {NODE_SIZE_WHY}")
    return gpus


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
    nodes = _int(options["--nnodes"].split(":")[-1], "--nnodes", MAX_PARALLEL) if "--nnodes" in options else 1
    if engine == "torchrun":
        nproc_flag = next((f for f in _NPROC_FLAGS if f in options), None)
        if nproc_flag is None:
            raise DeploymentError(f"torchrun line has no --nproc-per-node: {line!r}")
        tp = _int(options[nproc_flag], nproc_flag, MAX_GPUS_PER_NODE) * nodes
    else:
        tp = _int(options[tp_flag], tp_flag, MAX_PARALLEL) if tp_flag else 1
    pp = _int(options[pp_flag], pp_flag, MAX_PARALLEL) if pp_flag else 1
    _check_per_node(tp, pp, nodes)
    quant = options.get("--quantization", options.get("-q", "")).lower()
    activation = _dtype(options.get("--dtype", "auto"), "--dtype")
    if quant and quant not in _QUANT_WEIGHTS:
        raise DeploymentError(f"unknown --quantization {quant!r} (known: {', '.join(_QUANT_WEIGHTS)})")
    weights = _QUANT_WEIGHTS.get(quant) or ("fp8" if re.search(r"fp8", model, re.I) else activation)
    kv = options.get("--kv-cache-dtype", "auto")
    kv = activation if kv == "auto" else _dtype(kv.split("_")[0], "--kv-cache-dtype")
    gpus = _gpu_list(env["CUDA_VISIBLE_DEVICES"], "CUDA_VISIBLE_DEVICES") \
        if "CUDA_VISIBLE_DEVICES" in env else None
    context_flag = next((f for f in ("--max-model-len", "--context-length") if f in options), None)
    resolved = _resolve(model, configs or {})
    if not quant and resolved.get("shape") and resolved["shape"].quantization:
        weights = resolved["shape"].quantization  # an FP8 checkpoint: engines detect it from config.json
    return Deployment(engine=engine, model_ref=model, tp=tp, gpus=gpus, weight_dtype=weights,
                      kv_dtype=kv, activation_dtype=activation, nodes=nodes, pp=pp,
                      context_tokens=_int(options[context_flag], context_flag, MAX_CONTEXT_TOKENS)
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


def _int(value: object, what: str, most: int) -> int:
    """A whole number from 1 to ``most`` from a flag's text or a YAML value (not true/false, not 2.5)."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise DeploymentError(f"{what} needs a whole number, got {shown(repr(value))}")
    if len(str(value).strip()) > len(str(most)):
        raise DeploymentError(f"{what} must be at most {most}, got {shown(str(value))}")
    try:
        number = int(value)
    except ValueError:
        raise DeploymentError(f"{what} needs a whole number, got {shown(repr(value))}") from None
    if number < 1:
        raise DeploymentError(f"{what} must be at least 1, got {number}")
    if number > most:
        raise DeploymentError(f"{what} must be at most {most}, got {number}")
    return number


def _check_per_node(tp: int, pp: int, nodes: int) -> None:
    """TP x PP GPUs over the nodes: the share of one node must fit in a node."""
    if tp * pp // nodes > MAX_GPUS_PER_NODE:
        raise DeploymentError(f"TP {tp} x PP {pp} over {nodes} node(s) puts {tp * pp // nodes} GPUs on each node; "
                              f"{NODE_SIZE_WHY} (a multi-node deployment says --nnodes)")


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
    gpus = _gpu_list(entry["gpus"], "gpus") if "gpus" in entry else None
    pp = _int(entry.get("pp", 1), "pp", MAX_PARALLEL)
    tp = _int(entry.get("tp", len(gpus) // pp if gpus and len(gpus) >= pp else 1), "tp", MAX_PARALLEL)
    nodes = _int(entry.get("nodes", 1), "nodes", MAX_PARALLEL)
    _check_per_node(tp, pp, nodes)
    context = entry.get("context_tokens")
    return from_fields(model, tp, str(entry.get("dtype", "bf16")), gpus, configs=configs, pp=pp,
                       kv_dtype=str(entry["kv_dtype"]) if "kv_dtype" in entry else None,
                       node=_text(entry, "node"), nodes=nodes,
                       context_tokens=None if context is None else _int(context, "context_tokens", MAX_CONTEXT_TOKENS),
                       text=yaml.safe_dump(entry, sort_keys=False).strip())


def from_fields(model: str, tp: int, dtype: str, gpus: tuple[int, ...] | None, *,
                configs: dict[str, dict] | None = None, kv_dtype: str | None = None, pp: int = 1,
                node: str | None = None, nodes: int = 1, context_tokens: int | None = None,
                text: str = "", engine: str = "yaml") -> Deployment:
    """A deployment from its fields (a YAML entry, or the deployment form's saved row). Activations
    are bf16 when the weights are narrower than 2 bytes (FP8, INT4 checkpoints compute in bf16);
    the KV cache defaults to the activation dtype."""
    weights = _dtype(dtype, "dtype")
    activation = default_kv_dtype(weights)  # the activation dtype, where K and V live by default
    kv = _dtype(kv_dtype if kv_dtype is not None else activation, "kv_dtype")
    return Deployment(engine=engine, model_ref=model, tp=tp, gpus=gpus, weight_dtype=weights,
                      kv_dtype=kv, activation_dtype=activation, pp=pp, node=node, nodes=nodes,
                      context_tokens=context_tokens, text=text, **_resolve(model, configs or {}))


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
