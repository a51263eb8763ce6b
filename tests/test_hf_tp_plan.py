"""Transformers' tp_plan check: the torchrun command the lab writes runs for real on two CPU
ranks (gloo), its plan agrees with the lab's layers and the cost model's count, and a check
that cannot run, or does not agree, says so."""
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tpworkers.catalog import costmodel
from tpworkers.measure import hf_tp_config, hf_tp_plan
from tpworkers.measure.hf_tp_config import HFCheckConfig, expected_collectives, shard_shape, torchrun_command
from tpworkers.measure.hf_tp_plan import CheckResult, PlanRow
from tpworkers.measure.tp_ops import CollectiveCall, CommLog

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.hf
def test_it_runs_the_torchrun_command_the_lab_writes_on_two_cpu_ranks():
    command = torchrun_command(2)
    assert command == "torchrun --nproc-per-node 2 -m tpworkers.measure.hf_tp_plan"
    # torchrun is `python -m torch.distributed.run`: the same launcher, from this Python
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", *shlex.split(command)[1:]], cwd=ROOT,
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    out, flat = done.stdout, " ".join(done.stdout.split())
    assert "2 ranks, gloo on CPU" in out and "nothing downloaded" in out
    assert "model.layers.*.mlp.down_proj rowwise = the lab's RowParallelLinear on every rank" in flat
    assert "model.layers.*.self_attn.q_proj colwise = the lab's ColumnParallelLinear on every rank" in flat
    assert "differs" not in out
    assert "all_reduce 5 × 8 KiB" in flat and "the plan implies 5" in flat  # 2 per layer × 2 + embedding
    assert "all_gather 1 × 16 KiB" in flat  # the LM head's logits, 512 × 8 tokens × fp32
    assert out.rstrip().endswith("OK: transformers' tp_plan on 2 ranks matches the whole model and the lab's layers")


@pytest.mark.hf
def test_it_reads_the_plan_transformers_builds_from_its_source_without_importing_it():
    import torch
    import transformers
    from transformers import LlamaForCausalLM

    version, plan, why = hf_tp_config.declared_plan()
    with torch.device("meta"):  # what transformers itself resolves for a Llama model
        applied = LlamaForCausalLM(hf_tp_plan._llama_config(HFCheckConfig())).tp_plan
    assert why == "" and plan.items() <= applied.items() and version == transformers.__version__
    assert set(applied) - set(plan) == {"model.embed_tokens"}  # added while loading, as the page says


@pytest.mark.hf
def test_it_counts_two_allreduces_per_layer_from_the_plan_like_the_cost_model():
    config = HFCheckConfig(layers=3)
    _, plan, _ = hf_tp_config.declared_plan()
    assert expected_collectives(plan, config.layers) == {
        "all_reduce": costmodel.allreduces_per_token(config.shape()), "all_gather": 1}
    with_embedding = {**plan, "model.embed_tokens": "embedding_rowwise"}
    assert expected_collectives(with_embedding, 3)["all_reduce"] == costmodel.allreduces_per_token(config.shape()) + 1
    assert expected_collectives({**plan, "model.norm": "sequence_parallel"}, 3) is None  # a style it cannot count


def test_it_writes_only_the_options_that_differ_from_the_defaults():
    assert torchrun_command(4, HFCheckConfig(layers=3, tokens=16)) == (
        "torchrun --nproc-per-node 4 -m tpworkers.measure.hf_tp_plan --layers 3 --tokens 16")


def test_it_refuses_tp_sizes_the_model_or_transformers_cannot_split():
    assert HFCheckConfig().errors(4) == []
    assert "16 heads are not divisible by TP=3" in HFCheckConfig().errors(3)
    assert HFCheckConfig(kv_heads=2).errors(4) == [
        "2 KV heads are not divisible by TP=4 (transformers' colwise k_proj and v_proj split KV heads, "
        "they do not replicate them)"]


def test_it_gives_each_gpus_weight_from_the_cost_model():
    config = HFCheckConfig()
    assert shard_shape("model.layers.*.mlp.down_proj", config, 4) == (256, 128)
    assert shard_shape("lm_head", config, 4) == (128, 256)
    assert shard_shape("model.norm", config, 4) is None


def test_it_refuses_to_run_outside_torchrun(monkeypatch, capsys):
    monkeypatch.delenv("RANK", raising=False)
    assert hf_tp_plan.main([]) == 2
    assert "run this under torchrun" in capsys.readouterr().err


def test_it_says_which_package_is_missing_or_too_old(monkeypatch):
    def installed(versions):
        def version(package):
            if package not in versions:
                raise hf_tp_config.metadata.PackageNotFoundError(package)
            return versions[package]
        monkeypatch.setattr(hf_tp_config.metadata, "version", version)
        hf_tp_config.missing.cache_clear()
        return hf_tp_config.missing()

    try:
        assert installed({"transformers": "5.24.0"}).startswith(
            "accelerate is not installed in this Python: it is the optional [hf] extra")
        assert installed({"transformers": "4.57.1", "accelerate": "1.15.0"}).startswith(
            "transformers 4.57.1 is installed; the check needs 5.24 or newer")
        assert installed({"transformers": "5.24.0", "accelerate": "1.15.0"}) is None
    finally:
        hf_tp_config.missing.cache_clear()


def test_it_reports_failure_when_a_shard_or_a_count_disagrees(monkeypatch):
    monkeypatch.setattr(hf_tp_plan, "versions", lambda: "transformers x, torch y")
    log = CommLog(device=None, calls=[CollectiveCall("all_reduce", "forward", 8192, 0.001)])
    rows = [PlanRow("model.layers.*.mlp.down_proj", "rowwise", "RowParallelLinear", False)]
    result = CheckResult(2, "gloo", rows, log, {"all_reduce": 5}, 1e-7, counts_agree=False)
    text = hf_tp_plan.report(result, HFCheckConfig(), "CPU")
    assert "differs from the lab's RowParallelLinear" in text and "1 × 8 KiB" in text and "the plan implies 5" in text
    assert text.splitlines()[-1].startswith("FAILED") and not result.ok
