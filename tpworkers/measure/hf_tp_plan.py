"""Hugging Face transformers' tensor parallelism (``tp_plan="auto"``), run for real and checked.

Launched by torchrun, one process per rank (``hf_tp_config.torchrun_command`` writes the line):
    torchrun --nproc-per-node 2 -m tpworkers.measure.hf_tp_plan
Rank 0 builds a small Llama-shaped model from a ``LlamaConfig`` with seeded random weights and
saves it to a temporary directory: nothing is downloaded. Every rank then loads it twice — with
``distributed_config=DistributedConfig(tp_plan="auto")``, which shards it by the model's own
plan (its config's ``base_model_tp_plan`` plus the LM head's and embedding's rules), and whole —
and checks three things:
1. each planned module's shard on this rank holds the same weights as the lab's own
   ColumnParallelLinear / RowParallelLinear built from the whole module (measure.tp_layers);
2. one forward runs the collectives the plan implies (hf_tp_config.expected_collectives), as
   observed by the lab's CommLog (tp_ops.observing) — measured, with their bytes and time;
3. the logits equal the whole model's.
Exit status 0 when all hold, 1 when one does not, 2 when the check cannot run (not under
torchrun, transformers missing, a TP size the model cannot split). GPUs: one per rank, NCCL;
otherwise CPU ranks with gloo. transformers and accelerate are the optional ``[hf]`` extra.

Sources: transformers documentation, "Tensor parallelism"
(https://huggingface.co/docs/transformers/v5.17.0/tensor_parallelism); Megatron-LM (arXiv 1909.08053).
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass, fields

import torch
import torch.distributed as dist

from tpworkers.measure.hf_tp_config import STYLES, HFCheckConfig, expected_collectives, missing
from tpworkers.measure.tp_layers import ColumnParallelLinear, RowParallelLinear
from tpworkers.measure.tp_ops import CommLog, observing

LAB_LAYERS = {"ColumnParallelLinear": ColumnParallelLinear, "RowParallelLinear": RowParallelLinear}
LOGIT_TOLERANCE = 1e-4  # float32 sums in another order: differences of order 1e-7 are expected


def versions() -> str:
    import transformers

    return f"transformers {transformers.__version__}, torch {torch.__version__.split('+')[0]}"


def _llama_config(config: HFCheckConfig):
    from transformers import LlamaConfig

    return LlamaConfig(hidden_size=config.hidden, intermediate_size=config.ffn, num_hidden_layers=config.layers,
                       num_attention_heads=config.heads, num_key_value_heads=config.kv_heads,
                       vocab_size=config.vocab, max_position_embeddings=max(64, config.tokens))


def build_model(config: HFCheckConfig, path: str) -> None:
    """A Llama-shaped model with seeded random weights, saved (safetensors) to ``path``."""
    from transformers import LlamaForCausalLM

    torch.manual_seed(0)
    LlamaForCausalLM(_llama_config(config)).save_pretrained(path)


@dataclass
class PlanRow:
    pattern: str
    style: str
    lab_layer: str       # "" when the lab has no layer for this style
    matches: bool | None  # shard equal to the lab layer's on every rank; None: nothing to compare


@dataclass
class CheckResult:
    ranks: int
    backend: str
    rows: list[PlanRow]
    log: CommLog         # rank 0's collectives during one forward
    expected: dict[str, int] | None
    logit_error: float   # max |TP - whole| over every rank
    counts_agree: bool   # on every rank

    @property
    def ok(self) -> bool:
        return (self.counts_agree and self.logit_error <= LOGIT_TOLERANCE
                and all(row.matches is not False for row in self.rows))


def tally(log: CommLog) -> dict[str, tuple[int, float, float]]:
    """op -> (calls, bytes of the last call, seconds in all) of a logged forward."""
    table: dict[str, tuple[int, float, float]] = {}
    for call in log.calls:
        n, _, seconds = table.get(call.op, (0, 0, 0.0))
        table[call.op] = (n + 1, call.bytes, seconds + call.seconds)
    return table


def _every_rank(flag: bool) -> bool:
    value = torch.tensor([int(flag)])
    dist.all_reduce(value, op=dist.ReduceOp.MIN)
    return bool(value.item())


def _local(weight) -> torch.Tensor:
    return weight.to_local() if hasattr(weight, "to_local") else weight


def compare_shards(plan: dict[str, str], sharded, whole) -> list[PlanRow]:
    """Each plan entry's shard on this rank against the lab's layer built from the whole module."""
    rows = []
    names = [name for name, _ in whole.named_modules()]
    for pattern, style in plan.items():
        lab_layer = STYLES.get(style, ("", None))[0]
        matches = None
        if lab_layer:
            regex = re.compile(re.escape(pattern).replace(r"\*", r"\d+") + "$")
            pairs = [(sharded.get_submodule(n), whole.get_submodule(n)) for n in names if regex.match(n)]
            same = all(torch.equal(_local(tp.weight), LAB_LAYERS[lab_layer](full).weight.to(_local(tp.weight).device))
                       for tp, full in pairs)
            matches = _every_rank(bool(pairs) and same)
        rows.append(PlanRow(pattern, style, lab_layer, matches))
    return rows


def run_check(config: HFCheckConfig, path: str, device: torch.device) -> CheckResult:
    """Every rank: load the saved model sharded and whole, compare shards, one forward, logits."""
    from transformers import AutoModelForCausalLM
    from transformers.distributed import DistributedConfig

    sharded = AutoModelForCausalLM.from_pretrained(path, distributed_config=DistributedConfig(tp_plan="auto"),
                                                   dtype=torch.float32)
    whole = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).to(device)
    plan = dict(sharded.tp_plan)
    rows = compare_shards(plan, sharded, whole)
    ids = torch.randint(config.vocab, (1, config.tokens), generator=torch.Generator().manual_seed(1)).to(device)
    log = CommLog(device)
    with torch.no_grad():
        with observing(log, "forward"):
            logits = sharded(ids).logits
        error = torch.tensor([float((logits.float() - whole(ids).logits.float()).abs().max())], device=device)
    expected = expected_collectives(plan, config.layers)
    observed = {op: n for op, (n, _, _) in tally(log).items()}
    agree = _every_rank(expected is not None and observed == expected)
    dist.all_reduce(error, op=dist.ReduceOp.MAX)
    return CheckResult(dist.get_world_size(), dist.get_backend(), rows, log, expected, float(error.item()), agree)


def report(result: CheckResult, config: HFCheckConfig, on: str) -> str:
    lines = [f"# {versions()}; {result.ranks} ranks, {result.backend} on {on}; float32",
             f"# Llama-shaped model, random weights saved locally (nothing downloaded): {config.layers} layers, "
             f"hidden {config.hidden}, {config.heads} heads / {config.kv_heads} KV heads, FFN {config.ffn}, "
             f"vocabulary {config.vocab}",
             "# the plan transformers applied (model.tp_plan); each shard against the lab's own layer:"]
    for row in result.rows:
        verdict = {None: "no lab layer to compare", True: f"= the lab's {row.lab_layer} on every rank",
                   False: f"differs from the lab's {row.lab_layer}"}[row.matches]
        lines.append(f"  {row.pattern:<36} {row.style:<22} {verdict}")
    lines.append(f"# one forward of {config.tokens} tokens: collectives observed by the lab's CommLog on rank 0 "
                 "(measured)")
    expected = result.expected or {}
    for op, (n, size, seconds) in sorted(tally(result.log).items()):
        lines.append(f"  {op:<14} {n:>3} × {size / 1024:g} KiB, {seconds * 1e3:.3g} ms in all; "
                     f"the plan implies {expected.get(op, 0)}")
    if result.expected is None:
        lines.append("  (the plan uses a style the lab has no count for)")
    lines.append(f"# logits: max |TP - whole model| = {result.logit_error:.3g} over every rank "
                 f"(tolerance {LOGIT_TOLERANCE:g})")
    lines.append(f"{'OK' if result.ok else 'FAILED'}: transformers' tp_plan on {result.ranks} ranks "
                 f"{'matches' if result.ok else 'does not match'} the whole model and the lab's layers")
    return "\n".join(lines)


def _start() -> torch.device:
    """Join the torchrun group: NCCL with one GPU per rank when there are GPUs, else gloo."""
    if torch.cuda.is_available():
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(device)
        dist.init_process_group("nccl", device_id=device)
        return device
    dist.init_process_group("gloo")
    return torch.device("cpu")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="torchrun --nproc-per-node N -m tpworkers.measure.hf_tp_plan",
                                     description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for field in fields(HFCheckConfig):
        parser.add_argument(f"--{field.name.replace('_', '-')}", type=int, default=field.default)
    config = HFCheckConfig(**{f.name: getattr(parser.parse_args(argv), f.name) for f in fields(HFCheckConfig)})
    if "RANK" not in os.environ:
        print("error: run this under torchrun, one process per GPU: torchrun --nproc-per-node 2 -m "
              "tpworkers.measure.hf_tp_plan", file=sys.stderr)
        return 2
    world = int(os.environ["WORLD_SIZE"])
    problem = missing() or "; ".join(config.errors(world))
    if problem:
        if os.environ["RANK"] == "0":
            print(f"error: {problem}", file=sys.stderr)
        return 2
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    device = _start()
    try:
        path = [tempfile.mkdtemp(prefix="tplab-hf-") if dist.get_rank() == 0 else None]
        dist.broadcast_object_list(path)
        if dist.get_rank() == 0:
            build_model(config, path[0])
        dist.barrier()
        result = run_check(config, path[0], device)
        dist.barrier()
        if dist.get_rank() == 0:
            shutil.rmtree(path[0], ignore_errors=True)
            print(report(result, config, "GPUs" if device.type == "cuda" else "CPU"), flush=True)
        return 0 if result.ok else 1
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    raise SystemExit(main())
