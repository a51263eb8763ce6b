"""The Hugging Face tp_plan check's configuration, its torchrun command and what its plan
implies — torch-free, so the lesson page can build the command and read a plan without ranks.

transformers (5.x, ``transformers.distributed.tensor_parallel``) names a style per module in a
model's ``tp_plan``; each style is one of the Megatron operators the lab builds itself
(Shoeybi et al. 2019, arXiv 1909.08053, §3):
  colwise                 weight split by output features: the lab's ColumnParallelLinear; its
                          output stays split, no collective
  rowwise                 weight split by input features: the lab's RowParallelLinear; partial
                          products summed by one all-reduce (Megatron's g)
  embedding_rowwise       vocabulary rows split; each rank looks up the tokens it holds and the
                          partial lookups are summed by one all-reduce (no lab layer)
  colwise_gather_output   column split, then the output columns all-gathered (the LM head: every
                          rank gets the whole logits)
so a forward runs one all-reduce per rowwise module per layer, one per vocabulary-parallel
embedding, and one all-gather per gathered output.

The web process imports no torch, and importing transformers imports torch: so whether
transformers is installed comes from its package metadata, and the plan it declares for Llama
is read from its installed source (the literal dicts ``LlamaConfig.base_model_tp_plan`` and
``LlamaForCausalLM._tp_plan``), never imported. transformers may add rules while it loads a
model (5.24 adds the embedding's); the check prints the plan it applied.
"""
from __future__ import annotations

import ast
import shlex
from dataclasses import dataclass
from functools import cache
from importlib import metadata

from tpworkers.catalog import costmodel
from tpworkers.catalog.modelshapes import ModelShape

MODULE = "tpworkers.measure.hf_tp_plan"
TESTED_VERSION = (5, 24)  # the transformers the check was written and tested against
INSTALL = ("the optional [hf] extra (TPLAB_EXTRAS=hf python3 lab.py run installs it, or "
           "pip install -e '.[hf]' at the root of this repository)")

# style -> (the lab's layer that holds the same shard, the collective ending its forward)
STYLES: dict[str, tuple[str, str | None]] = {
    "colwise": ("ColumnParallelLinear", None),
    "rowwise": ("RowParallelLinear", "all_reduce"),
    "embedding_rowwise": ("", "all_reduce"),
    "colwise_gather_output": ("ColumnParallelLinear", "all_gather"),
}


@dataclass(frozen=True)
class HFCheckConfig:
    """A small Llama-shaped model (grouped-query attention, gated MLP) and the tokens of one
    forward. Its heads, KV heads and FFN divide by every TP size up to 8."""

    layers: int = 2
    hidden: int = 256
    heads: int = 16
    kv_heads: int = 8
    ffn: int = 512
    vocab: int = 512
    tokens: int = 8

    def shape(self) -> ModelShape:
        return ModelShape(hidden_size=self.hidden, num_hidden_layers=self.layers,
                          num_attention_heads=self.heads, num_key_value_heads=self.kv_heads,
                          intermediate_size=self.ffn, vocab_size=self.vocab, name="the check's Llama-shaped model")

    def errors(self, tp: int) -> list[str]:
        """Why the check cannot run this model at ``tp``: the cost model's divisibility rules,
        plus two of its own: transformers' colwise k_proj/v_proj split the KV heads instead of
        replicating them, and the lab's ColumnParallelLinear it compares the LM head with needs
        the vocabulary to divide."""
        errors = costmodel.tp_constraint_errors(self.shape(), tp)
        if not errors and self.kv_heads % tp:
            errors.append(f"{self.kv_heads} KV heads are not divisible by TP={tp} (transformers' "
                          "colwise k_proj and v_proj split KV heads, they do not replicate them)")
        if not errors and self.vocab % tp:
            errors.append(f"the vocabulary of {self.vocab} is not divisible by TP={tp}")
        return errors

    def argv(self) -> list[str]:
        """The check's own options for this configuration, defaults left out."""
        default = HFCheckConfig()
        return [item for name in self.__dataclass_fields__ if getattr(self, name) != getattr(default, name)
                for item in (f"--{name.replace('_', '-')}", str(getattr(self, name)))]


def torchrun_command(nproc: int, config: HFCheckConfig = HFCheckConfig()) -> str:
    """What a learner runs at the root of a clone of this repository, one rank per GPU."""
    return shlex.join(["torchrun", "--nproc-per-node", str(nproc), "-m", MODULE, *config.argv()])


def is_per_layer(pattern: str) -> bool:
    return ".layers.*." in f".{pattern}"


def expected_collectives(plan: dict[str, str], layers: int) -> dict[str, int] | None:
    """Collectives one forward runs under ``plan`` (see the module docstring); None when the
    plan uses a style this table does not know."""
    counts: dict[str, int] = {}
    for pattern, style in plan.items():
        if style not in STYLES:
            return None
        op = STYLES[style][1]
        if op:
            counts[op] = counts.get(op, 0) + (layers if is_per_layer(pattern) else 1)
    return counts


# transformers' Llama module names -> the cost model's weight names (costmodel.shard_shapes)
_WEIGHTS = {"q_proj": "q", "k_proj": "k", "v_proj": "v", "o_proj": "o", "gate_proj": "gate", "up_proj": "up",
            "down_proj": "down"}


def shard_shape(pattern: str, config: HFCheckConfig, tp: int) -> tuple[int, int] | None:
    """One GPU's weight of a planned module at ``tp`` ([out, in], nn.Linear's layout; an
    embedding's [vocabulary, hidden]), from the cost model; None for a module it does not know."""
    name = pattern.rsplit(".", 1)[-1]
    if name in _WEIGHTS:
        return costmodel.shard_shapes(config.shape(), tp)[_WEIGHTS[name]]
    if name in ("lm_head", "embed_tokens"):
        return costmodel.column_parallel_shard(config.vocab, tp, 0, "fp32")[0], config.hidden
    return None


@cache
def missing() -> str | None:
    """Why this Python cannot run the check (None: it can), from package metadata alone."""
    for package in ("transformers", "accelerate"):
        try:
            version = metadata.version(package)
        except metadata.PackageNotFoundError:
            return f"{package} is not installed in this Python: it is {INSTALL}"
        if package == "transformers" and _release(version) < TESTED_VERSION:
            return (f"transformers {version} is installed; the check needs "
                    f"{'.'.join(map(str, TESTED_VERSION))} or newer, {INSTALL}")
    return None


def _release(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".")[:2] if part.isdigit())


def _class_dict(source: str, class_name: str, attribute: str) -> dict[str, str]:
    """A literal dict assigned to ``attribute`` in the body of ``class_name``."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ClassDef) and node.name == class_name:
            for item in node.body:
                if (isinstance(item, ast.Assign) and len(item.targets) == 1
                        and getattr(item.targets[0], "id", None) == attribute):
                    return ast.literal_eval(item.value)
    raise ValueError(f"no literal {class_name}.{attribute}")


@cache
def declared_plan() -> tuple[str, dict[str, str] | None, str]:
    """(transformers version, the plan its Llama declares — None when unreadable, why not)."""
    version = metadata.version("transformers")
    llama = "transformers/models/llama/"
    try:
        dist = metadata.distribution("transformers")
        config = _class_dict(dist.locate_file(llama + "configuration_llama.py").read_text(),
                             "LlamaConfig", "base_model_tp_plan")
        head = _class_dict(dist.locate_file(llama + "modeling_llama.py").read_text(),
                           "LlamaForCausalLM", "_tp_plan")
    except (OSError, ValueError, SyntaxError) as error:
        return version, None, f"cannot read the Llama plan from transformers {version}'s source ({error})"
    # the causal-LM wraps the base model as `model`, so its rules apply under that prefix
    return version, {**head, **{f"model.{pattern}": style for pattern, style in config.items()}}, ""
