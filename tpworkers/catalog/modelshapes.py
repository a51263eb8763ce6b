"""Model shapes: the few HF config.json fields that decide sizes, and the shipped catalog.

The catalog lives in ``tpworkers/catalog/data/models/*.json``: each file holds the fields of a
public HF config.json that decide sizes (source URL in its ``_catalog`` block) so the numbers can
be checked against the original. Multimodal configs (Gemma 3) keep the language model under
``text_config``.

A field a config.json leaves out takes the default of that architecture's transformers config
class, as ``from_pretrained`` would (``_ARCH_DEFAULTS``): GemmaConfig, Gemma2Config and
Gemma3TextConfig tie the LM head to the embeddings (``tie_word_embeddings=True``), Llama,
Mistral, Mixtral and the Qwen2/Qwen3 configs do not. Mixture-of-experts configs (Mixtral's
``num_local_experts``, Qwen MoE's ``num_experts`` with ``moe_intermediate_size`` and a shared
expert) are read; DeepSeek's (``n_routed_experts``) is refused by name, its multi-head latent
attention is not modelled. Sizes no model has (a hidden size of 10^30) are refused.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

CATALOG_DIR = Path(__file__).parent / "data" / "models"
_REQUIRED_INT_FIELDS = ("hidden_size", "num_hidden_layers", "num_attention_heads",
                        "intermediate_size", "vocab_size")
# transformers' config-class defaults for the fields the configs of these families omit
# (transformers/models/<family>/configuration_<family>.py); unknown families: untied.
_ARCH_DEFAULTS = {
    "gemma": {"tie_word_embeddings": True, "head_dim": 256},
    "gemma2": {"tie_word_embeddings": True, "head_dim": 256},
    "gemma3_text": {"tie_word_embeddings": True, "head_dim": 256},
    "llama": {"tie_word_embeddings": False}, "mistral": {"tie_word_embeddings": False},
    "mixtral": {"tie_word_embeddings": False}, "qwen2": {"tie_word_embeddings": False},
    "qwen2_moe": {"tie_word_embeddings": False}, "qwen3": {"tie_word_embeddings": False},
    "qwen3_moe": {"tie_word_embeddings": False},
}
# Upper bounds no released model comes near (Llama-3.1-405B: hidden 16384, 126 layers; Qwen3
# MoE: 128 experts; Gemma 3: 262k vocabulary): a value above is a typo or a hostile paste.
_LIMITS = {"hidden_size": 1 << 17, "num_hidden_layers": 4096, "num_attention_heads": 4096,
           "num_key_value_heads": 4096, "intermediate_size": 1 << 20, "vocab_size": 1 << 23,
           "head_dim": 4096, "num_experts": 4096, "num_experts_per_tok": 4096,
           "moe_intermediate_size": 1 << 20, "shared_expert_intermediate_size": 1 << 20,
           "sliding_window": 1 << 24}
# quantization_config.quant_method values whose weights are 8-bit floats
_FP8_METHODS = {"fp8", "fbgemm_fp8", "modelopt"}


@dataclass(frozen=True)
class ModelShape:
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    intermediate_size: int
    vocab_size: int
    tie_word_embeddings: bool = False
    head_dim: int | None = None  # None: hidden_size // num_attention_heads (HF convention)
    name: str = ""
    sliding_window: int | None = None  # tokens some layers keep (Gemma 2: every other layer)
    num_experts: int = 0  # routed experts per MoE layer (0: a dense model)
    experts_per_token: int = 0  # experts each token is routed to
    moe_intermediate_size: int = 0  # FFN size of one expert
    shared_expert_intermediate_size: int = 0  # Qwen MoE's always-on shared expert
    moe_layers: int = 0  # layers whose MLP is the MoE block (the rest are dense)
    quantization: str | None = None  # "fp8" when the checkpoint's weights are FP8 (reported)

    @property
    def is_moe(self) -> bool:
        return self.num_experts > 0

    @property
    def resolved_head_dim(self) -> int:
        return self.head_dim if self.head_dim else self.hidden_size // self.num_attention_heads

    @classmethod
    def from_hf_config(cls, config: dict, name: str = "") -> ModelShape:
        """Build from a HF config.json dict; ValueError names the missing or invalid field.

        Defaults follow transformers' Llama-family configs: num_key_value_heads missing means
        multi-head attention (= num_attention_heads); tie_word_embeddings missing means False.
        ``sliding_window`` is kept unless ``use_sliding_window`` is false (Qwen2 configs carry
        a window they do not use).
        """
        if not isinstance(config, dict):
            raise ValueError(f"config must be a JSON object, got {type(config).__name__}")
        quantization = _quantization(config)
        if isinstance(config.get("text_config"), dict):
            config = config["text_config"]
        if config.get("n_routed_experts"):
            raise ValueError(f"DeepSeek-style configs (n_routed_experts={config['n_routed_experts']}) are "
                             "not modelled: their multi-head latent attention caches a compressed KV")
        defaults = _ARCH_DEFAULTS.get(str(config.get("model_type", "")), {})
        values = {f: _positive_int(config, f) for f in _REQUIRED_INT_FIELDS}
        kv_heads = (_positive_int(config, "num_key_value_heads")
                    if config.get("num_key_value_heads") is not None
                    else values["num_attention_heads"])
        head_dim = (_positive_int(config, "head_dim")
                    if config.get("head_dim") is not None else defaults.get("head_dim"))
        if head_dim is None and values["hidden_size"] % values["num_attention_heads"]:
            raise ValueError(f"hidden_size {values['hidden_size']} is not divisible by "
                             f"num_attention_heads {values['num_attention_heads']} and no head_dim "
                             "is given: the heads cannot split the hidden size")
        tie = config.get("tie_word_embeddings", defaults.get("tie_word_embeddings", False))
        if not isinstance(tie, bool):
            raise ValueError(f"field 'tie_word_embeddings' must be true or false, got {tie!r}")
        if values["num_attention_heads"] % kv_heads:
            raise ValueError(f"field 'num_key_value_heads' ({kv_heads}) must divide "
                             f"num_attention_heads ({values['num_attention_heads']})")
        window = (_positive_int(config, "sliding_window")
                  if config.get("sliding_window") is not None and config.get("use_sliding_window", True)
                  else None)
        return cls(num_key_value_heads=kv_heads, head_dim=head_dim, tie_word_embeddings=tie,
                   name=name or str(config.get("_name_or_path", "")), sliding_window=window,
                   quantization=quantization, **_moe(config, values), **values)


def _moe(config: dict, values: dict) -> dict:
    """MoE fields: Mixtral (num_local_experts; every layer's MLP is 8 experts of
    intermediate_size) or Qwen MoE (num_experts of moe_intermediate_size, a shared expert,
    the MoE block on layers (i+1) % decoder_sparse_step == 0 outside mlp_only_layers)."""
    experts = config.get("num_local_experts") or config.get("num_experts")
    if not experts:
        return {}
    field = "num_local_experts" if config.get("num_local_experts") else "num_experts"
    expert_ffn = (_positive_int(config, "moe_intermediate_size") if config.get("moe_intermediate_size")
                  else values["intermediate_size"])
    shared = (_positive_int(config, "shared_expert_intermediate_size")
              if config.get("shared_expert_intermediate_size") else 0)
    step = config.get("decoder_sparse_step") or 1
    only_dense = set(config.get("mlp_only_layers") or [])
    layers = values["num_hidden_layers"]
    moe_layers = sum(1 for i in range(layers) if (i + 1) % step == 0 and i not in only_dense)
    top_k = _positive_int(config, "num_experts_per_tok")
    experts = _positive_int(config, field)
    if top_k > experts:
        raise ValueError(f"num_experts_per_tok ({top_k}) exceeds the {experts} experts")
    return {"num_experts": experts, "experts_per_token": top_k, "moe_intermediate_size": expert_ffn,
            "shared_expert_intermediate_size": shared, "moe_layers": moe_layers}


def _quantization(config: dict) -> str | None:
    """"fp8" when config.json's quantization_config says the weights are 8-bit floats."""
    quant = config.get("quantization_config")
    if not isinstance(quant, dict):
        return None
    method = str(quant.get("quant_method", "")).lower()
    groups = quant.get("config_groups") or {}
    float8 = any(isinstance(g, dict) and (g.get("weights") or {}).get("type") == "float"
                 and (g.get("weights") or {}).get("num_bits") == 8 for g in groups.values())
    return "fp8" if method in _FP8_METHODS or float8 else None


def _positive_int(config: dict, field: str) -> int:
    if field not in config:
        raise ValueError(f"config is missing field {field!r}")
    value = config[field]
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"field {field!r} must be a positive integer, got {value!r}")
    if value > _LIMITS.get(field, value):
        raise ValueError(f"field {field!r} is {value:.3g}: no model is that large (at most "
                         f"{_LIMITS[field]} accepted)")
    return value


@cache
def _catalog() -> dict[str, tuple[ModelShape, dict]]:
    entries = {}
    for path in sorted(CATALOG_DIR.glob("*.json")):
        raw = json.loads(path.read_text())
        meta = raw["_catalog"]
        entries[meta["name"]] = (ModelShape.from_hf_config(raw, name=meta["name"]), meta)
    return entries


def list_models() -> list[str]:
    return list(_catalog())


def catalog_source(name: str) -> str:
    """Where a catalog entry's numbers come from (the public config.json URL)."""
    return _catalog()[get_model(name).name][1]["source"]


def get_model(name: str) -> ModelShape:
    """Catalog lookup by name, HF id or alias, case-insensitive and tolerant of suffixes:
    "google/gemma-2-27b-it" and "meta-llama/Meta-Llama-3.1-70B-Instruct" both resolve.
    The longest matching catalog name wins; nothing matching raises ValueError. A suffix that
    carries a version ("Mistral-7B-Instruct-v0.1" against the alias "mistral-7b" of v0.3) names
    another model, not a variant, so it does not match."""
    wanted = _normalise(name)
    best: tuple[int, str] | None = None
    for entry_name, (_shape, meta) in _catalog().items():
        for key in (entry_name, meta.get("hf_id", ""), *meta.get("aliases", [])):
            key = _normalise(key)
            if key and (wanted == key or (wanted.startswith(key + "-")
                                          and not re.search(r"(^|-)v\d", wanted[len(key) + 1:]))):
                if best is None or len(key) > best[0]:
                    best = (len(key), entry_name)
    if best is None:
        raise ValueError(f"model {name!r} is not in the catalog ({', '.join(list_models())}); "
                         "paste its config.json instead")
    return _catalog()[best[1]][0]


def _normalise(name: str) -> str:
    return re.sub(r"[\s_]+", "-", name.strip().rstrip("/").split("/")[-1].lower())
