"""Model shapes: the few HF config.json fields that decide sizes, and the shipped catalog.

The catalog lives in ``tpworkers/data/models/*.json``: each file is the dense part of a public
HF config.json (source URL in its ``_catalog`` block) so the numbers can be checked against the
original. Multimodal configs (Gemma 3) keep the language model under ``text_config``.
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
_MOE_FIELDS = ("num_local_experts", "n_routed_experts", "num_experts")


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
        if isinstance(config.get("text_config"), dict):
            config = config["text_config"]
        for field in _MOE_FIELDS:
            if config.get(field):
                raise ValueError(f"mixture-of-experts configs are not supported ({field}="
                                 f"{config[field]}); this model is dense-only")
        values = {f: _positive_int(config, f) for f in _REQUIRED_INT_FIELDS}
        kv_heads = (_positive_int(config, "num_key_value_heads")
                    if config.get("num_key_value_heads") is not None
                    else values["num_attention_heads"])
        head_dim = (_positive_int(config, "head_dim")
                    if config.get("head_dim") is not None else None)
        tie = config.get("tie_word_embeddings", False)
        if not isinstance(tie, bool):
            raise ValueError(f"field 'tie_word_embeddings' must be true or false, got {tie!r}")
        if values["num_attention_heads"] % kv_heads:
            raise ValueError(f"field 'num_key_value_heads' ({kv_heads}) must divide "
                             f"num_attention_heads ({values['num_attention_heads']})")
        window = (_positive_int(config, "sliding_window")
                  if config.get("sliding_window") is not None and config.get("use_sliding_window", True)
                  else None)
        return cls(num_key_value_heads=kv_heads, head_dim=head_dim, tie_word_embeddings=tie,
                   name=name or str(config.get("_name_or_path", "")), sliding_window=window, **values)


def _positive_int(config: dict, field: str) -> int:
    if field not in config:
        raise ValueError(f"config is missing field {field!r}")
    value = config[field]
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"field {field!r} must be a positive integer, got {value!r}")
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
    The longest matching catalog name wins; nothing matching raises ValueError."""
    wanted = _normalise(name)
    best: tuple[int, str] | None = None
    for entry_name, (_shape, meta) in _catalog().items():
        for key in (entry_name, meta.get("hf_id", ""), *meta.get("aliases", [])):
            key = _normalise(key)
            if key and (wanted == key or wanted.startswith(key + "-")):
                if best is None or len(key) > best[0]:
                    best = (len(key), entry_name)
    if best is None:
        raise ValueError(f"model {name!r} is not in the catalog ({', '.join(list_models())}); "
                         "paste its config.json instead")
    return _catalog()[best[1]][0]


def _normalise(name: str) -> str:
    return re.sub(r"[\s_]+", "-", name.strip().rstrip("/").split("/")[-1].lower())
