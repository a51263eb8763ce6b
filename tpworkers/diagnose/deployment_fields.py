"""A deployment and its fields: the record the findings read (engine, model shape, TP, PP, GPUs,
dtypes), each field checked, and the model's shape resolved. Built from a launch line or YAML
(deployments.py) or from the deployment form's saved row (``from_fields``).

Weight dtype: --quantization/-q fp8 -> fp8, awq/gptq -> int4, else --dtype (auto -> bf16).
All-reduces carry activations: --dtype, bf16 when auto (FP8 weights still reduce bf16).
A model's shape comes from a pasted config.json named like it (its ``_name_or_path``, its file
or folder name, or the last part of the model's name: "my-model" for "myorg/my-model"), else
from the catalog; ``shape_provenance`` says which ("reported" / "modelled").
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from tpworkers.catalog.costmodel import default_kv_dtype, dtype_bytes
from tpworkers.catalog.gpus import parse_gpu_list
from tpworkers.catalog.modelshapes import ModelShape, catalog_source, get_model
from tpworkers.diagnose.limits import MAX_GPUS_PER_NODE, NODE_SIZE_WHY, shown

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
    def named_in(self) -> str:
        """Where its fields were read, for the evidence to cite."""
        return "the deployment YAML" if self.engine == "yaml" else "the launch line"

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


def resolve_shape(ref: str, configs: dict[str, dict]) -> dict:
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


def dtype_name(value: str, what: str) -> str:
    name = _DTYPE_ALIASES.get(value.lower(), value.lower())
    try:
        dtype_bytes(name)
    except ValueError as exc:
        raise DeploymentError(f"{what}: {exc}") from None
    return name


def gpu_list(value: object, what: str) -> tuple[int, ...]:
    try:
        gpus = parse_gpu_list(value)
    except ValueError as exc:
        raise DeploymentError(f"{what}: {exc}") from None
    if len(gpus) > MAX_GPUS_PER_NODE or any(g >= MAX_GPUS_PER_NODE for g in gpus):
        raise DeploymentError(f"{what}: GPU indices run from 0 to {MAX_GPUS_PER_NODE - 1}; {NODE_SIZE_WHY}")
    return gpus


def whole_number(value: object, what: str, most: int) -> int:
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


def check_per_node(tp: int, pp: int, nodes: int) -> None:
    """TP x PP GPUs over the nodes: the share of one node must fit in a node."""
    if tp * pp // nodes > MAX_GPUS_PER_NODE:
        raise DeploymentError(f"TP {tp} x PP {pp} over {nodes} node(s) puts {tp * pp // nodes} GPUs on each node; "
                              f"{NODE_SIZE_WHY} (a multi-node deployment says --nnodes)")


def from_fields(model: str, tp: int, dtype: str, gpus: tuple[int, ...] | None, *,
                configs: dict[str, dict] | None = None, kv_dtype: str | None = None, pp: int = 1,
                node: str | None = None, nodes: int = 1, context_tokens: int | None = None,
                text: str = "", engine: str = "yaml") -> Deployment:
    """A deployment from its fields (a YAML entry, or the deployment form's saved row). Activations
    are bf16 when the weights are narrower than 2 bytes (FP8, INT4 checkpoints compute in bf16);
    the KV cache defaults to the activation dtype."""
    weights = dtype_name(dtype, "dtype")
    activation = default_kv_dtype(weights)  # the activation dtype, where K and V live by default
    kv = dtype_name(kv_dtype if kv_dtype is not None else activation, "kv_dtype")
    return Deployment(engine=engine, model_ref=model, tp=tp, gpus=gpus, weight_dtype=weights,
                      kv_dtype=kv, activation_dtype=activation, pp=pp, node=node, nodes=nodes,
                      context_tokens=context_tokens, text=text, **resolve_shape(model, configs or {}))
