"""Cost model: exact formulas on known shapes, and properties checked with hypothesis."""
import math

import pytest
from hypothesis import given, settings, strategies as st

from tpworkers.catalog import costmodel as cm
from tpworkers.catalog.links import LINKS, get_link, link_for_gpu, nvlink_bond, pcie_link
from tpworkers.catalog.modelshapes import ModelShape, get_model, list_models

sizes = st.floats(min_value=1, max_value=1e10, allow_nan=False)
ranks = st.integers(min_value=2, max_value=64)
alphas = st.floats(min_value=1e-7, max_value=1e-4)
bandwidths = st.floats(min_value=1e8, max_value=1e12)
fast = settings(max_examples=60, deadline=None)


def test_it_maps_dtype_names_to_bytes():
    assert [cm.dtype_bytes(d) for d in ("fp32", "BF16", "float16", "fp8", "int8", "int4")] == [
        4, 2, 2, 1, 1, 0.5]


def test_it_names_an_unknown_dtype_in_the_error():
    with pytest.raises(ValueError, match="'fp7'"):
        cm.dtype_bytes("fp7")


@pytest.mark.parametrize("op,n,factor", [("all_reduce", 8, 1.75), ("all_gather", 4, 0.75),
                                         ("reduce_scatter", 2, 0.5), ("all_to_all", 8, 0.875),
                                         ("broadcast", 8, 1.0), ("reduce", 3, 1.0)])
def test_it_uses_nccl_tests_bus_factors(op, n, factor):
    assert cm.bus_factor(op, n) == pytest.approx(factor)


def test_it_converts_time_to_algbw_and_busbw():
    assert cm.algbw_Bps(1e9, 0.01) == pytest.approx(1e11)
    assert cm.busbw_Bps("all_reduce", 8, 1e9, 0.01) == pytest.approx(1.75e11)
    with pytest.raises(ValueError):
        cm.algbw_Bps(1e9, 0)


@given(size=sizes, alpha=alphas, bw=bandwidths)
@fast
def test_it_makes_one_rank_free(size, alpha, bw):
    assert cm.ring_allreduce_time_s(size, 1, alpha, bw) == 0.0


@given(a=sizes, b=sizes, n=ranks, alpha=alphas, bw=bandwidths)
@fast
def test_it_keeps_ring_time_monotone_in_size(a, b, n, alpha, bw):
    small, large = sorted((a, b))
    assert cm.ring_allreduce_time_s(small, n, alpha, bw) <= cm.ring_allreduce_time_s(large, n, alpha, bw)


@given(size=sizes, n=ranks, bw=bandwidths)
@fast
def test_it_gives_busbw_equal_to_link_bandwidth_without_latency(size, n, bw):
    t = cm.ring_allreduce_time_s(size, n, 0.0, bw)
    assert cm.busbw_Bps("all_reduce", n, size, t) == pytest.approx(bw, rel=1e-9)


@given(n=ranks, alpha=alphas, bw=bandwidths)
@fast
def test_it_recovers_alpha_and_bandwidth_from_a_synthetic_sweep(n, alpha, bw):
    points = [(2.0**k, cm.ring_allreduce_time_s(2.0**k, n, alpha, bw)) for k in range(3, 31, 2)]
    fitted_alpha, fitted_bw = cm.fit_alpha_beta(points, n)
    assert fitted_alpha == pytest.approx(alpha, rel=1e-6)
    assert fitted_bw == pytest.approx(bw, rel=1e-6)


def test_it_fits_a_noisy_sweep_within_ten_percent():
    noise = [1.03, 0.97, 1.05, 0.96, 1.02, 0.98, 1.04, 0.95, 1.01, 1.0, 0.99, 1.03]
    points = [(4.0**k, cm.ring_allreduce_time_s(4.0**k, 8, 5e-6, 200e9) * e)
              for k, e in zip(range(2, 14), noise)]
    alpha, bw = cm.fit_alpha_beta(points, 8)
    assert alpha == pytest.approx(5e-6, rel=0.1)
    assert bw == pytest.approx(200e9, rel=0.1)


def test_it_refuses_to_fit_a_single_size():
    with pytest.raises(ValueError, match="two distinct"):
        cm.fit_alpha_beta([(1024, 1e-5), (1024, 1.1e-5)], 2)


def test_it_uses_a_fitted_link_for_comm_estimates():
    points = [(2.0**k, cm.ring_allreduce_time_s(2.0**k, 2, 40e-6, 20e9)) for k in range(10, 28)]
    measured = cm.fitted_link(get_link("nvlink4-bridge"), points, 2)
    assert measured.measured and measured.kind == "nvlink"
    shape = get_model("Gemma-2-27B")
    slow = cm.decode_comm_per_token(shape, 2, 8, "bf16", measured)
    nominal = cm.decode_comm_per_token(shape, 2, 8, "bf16", get_link("nvlink4-bridge"))
    assert slow.seconds_per_token > nominal.seconds_per_token


_WIDE = sorted(k for k, v in cm.DTYPE_BYTES.items() if v >= 2)  # quantized: tests/test_model_sizes.py


@given(name=st.sampled_from(["Llama-3.1-8B", "Gemma-2-27B", "Qwen2.5-72B"]),
       a=st.sampled_from(_WIDE), b=st.sampled_from(_WIDE))
@fast
def test_it_scales_weight_bytes_with_dtype(name, a, b):
    shape = get_model(name)
    ratio = cm.weight_bytes(shape, a) / cm.weight_bytes(shape, b)
    assert ratio == pytest.approx(cm.dtype_bytes(a) / cm.dtype_bytes(b))


@pytest.mark.parametrize("name,billions", [("Llama-3.1-8B", 8.03), ("Llama-3.1-70B", 70.6),
                                           ("Llama-3.1-405B", 405.9), ("Qwen2.5-72B", 72.7),
                                           ("Gemma-2-27B", 27.2), ("Mistral-7B-v0.3", 7.25)])
def test_it_counts_parameters_close_to_the_published_sizes(name, billions):
    assert cm.param_count(get_model(name)) / 1e9 == pytest.approx(billions, rel=0.01)


def test_it_counts_a_tiny_model_by_hand():
    tiny = ModelShape(hidden_size=8, num_hidden_layers=2, num_attention_heads=2,
                      num_key_value_heads=1, intermediate_size=16, vocab_size=10,
                      tie_word_embeddings=True)
    # per layer: q 8·8 + k,v 2·8·4 + o 8·8 + mlp 3·8·16 + norms 16 = 592; embed 80; final norm 8
    assert cm.param_count(tiny) == 2 * 592 + 80 + 8


def test_it_computes_kv_bytes_per_token():
    # Llama-3.1-70B: 2 · 80 layers · 8 KV heads · 128 head_dim · 2 B = 327,680 B
    assert cm.kv_bytes_per_token(get_model("Llama-3.1-70B"), "bf16") == 2 * 80 * 8 * 128 * 2


def test_it_fits_a_27b_fp8_model_on_one_94gb_gpu_but_not_70b_bf16():
    fit = cm.memory_fit(get_model("Gemma-2-27B"), "fp8", 94e9, context_tokens=4096, batch=4)
    assert fit.fits and fit.total == pytest.approx(fit.weights + fit.kv + fit.overhead)
    # 27.2B parameters at 1 byte, its 1.18B-parameter embedding (tied LM head) at 2
    assert 28e9 < fit.weights < 29e9
    big = cm.memory_fit(get_model("Llama-3.1-70B"), "bf16", 94e9, context_tokens=4096, batch=4)
    assert not big.fits and big.headroom < 0


def test_it_splits_weights_and_kv_across_pipeline_stages():
    shape = get_model("Llama-3.1-70B")
    tp2 = cm.memory_fit(shape, "bf16", 80e9, 8192, 8, tp=2)
    staged = cm.memory_fit(shape, "bf16", 80e9, 8192, 8, tp=2, pp=2)
    assert staged.weights == pytest.approx(tp2.weights / 2) and staged.kv == pytest.approx(tp2.kv / 2)
    assert staged.overhead == tp2.overhead and staged.fits and not tp2.fits


def test_it_keeps_a_used_sliding_window_and_drops_an_unused_one():
    base = {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
            "intermediate_size": 128, "vocab_size": 100}
    assert ModelShape.from_hf_config({**base, "sliding_window": 4096}).sliding_window == 4096
    assert ModelShape.from_hf_config({**base, "sliding_window": 131072, "use_sliding_window": False}).sliding_window is None
    assert ModelShape.from_hf_config({**base, "sliding_window": None}).sliding_window is None
    assert get_model("Gemma-2-27B").sliding_window == 4096 and get_model("Llama-3.1-70B").sliding_window is None


@given(tp=st.sampled_from([1, 2, 4, 8]))
@fast
def test_it_splits_weights_across_tp(tp):
    shape = get_model("Llama-3.1-70B")
    one = cm.memory_fit(shape, "bf16", 80e9, 1024, 1)
    split = cm.memory_fit(shape, "bf16", 80e9, 1024, 1, tp=tp)
    assert split.weights == pytest.approx(one.weights / tp)


@given(tp=st.sampled_from([1, 2, 4, 8]), hbm=bandwidths)
@fast
def test_it_floors_a_decode_step_at_one_gpus_share_of_the_weights(tp, hbm):
    shape = get_model("Llama-3.1-70B")
    floor = cm.decode_weight_read_s(shape, "bf16", tp, hbm)
    assert floor * hbm * tp == pytest.approx(cm.weight_bytes(shape, "bf16"))
    fp8 = cm.weight_bytes(shape, "fp8")  # embeddings and LM head stay bf16
    assert cm.decode_weight_read_s(shape, "fp8", tp, hbm) == pytest.approx(fp8 / tp / hbm)
    with pytest.raises(ValueError, match="HBM bandwidth"):
        cm.decode_weight_read_s(shape, "bf16", tp, 0)


def test_it_explains_invalid_tp_sizes():
    shape = get_model("Llama-3.1-70B")
    assert "64 heads are not divisible by TP=3" in cm.tp_constraint_errors(shape, 3)
    assert cm.tp_constraint_errors(shape, 8) == []
    assert cm.valid_tp_sizes(shape, max_tp=16) == [1, 2, 4, 8, 16]
    assert any("exceeds" in e for e in cm.tp_constraint_errors(shape, 128))


def test_it_shards_column_and_row_parallel_weights():
    shards = cm.shard_shapes(get_model("Llama-3.1-70B"), 4)
    assert shards["q"] == (64 // 4 * 128, 8192)
    assert shards["k"] == (2 * 128, 8192)
    assert shards["o"] == (8192, 2048)
    assert shards["down"] == (8192, 28672 // 4)
    with pytest.raises(ValueError, match="TP=3"):
        cm.shard_shapes(get_model("Llama-3.1-70B"), 3)


def test_it_replicates_kv_heads_when_tp_exceeds_them():
    assert cm.shard_shapes(get_model("Llama-3.1-405B"), 16)["k"] == (128, 16384)


def test_it_counts_allreduce_bytes_like_the_facts_example():
    # Megatron-LM (arXiv 1909.08053 §3): each all-reduce carries b·h activations;
    # h = 16,384, 8 tokens, fp16 -> 256 KiB
    assert cm.allreduce_bytes(16384, 8, "fp16") == 256 * 1024
    # 2 per layer + 1 for vLLM's vocabulary-parallel embedding
    assert cm.allreduces_per_token(get_model("Llama-3.1-70B")) == 161


def test_it_estimates_decode_comm_per_token_over_a_link():
    shape, link = get_model("Gemma-2-27B"), get_link("pcie5")
    est = cm.decode_comm_per_token(shape, 2, 8, "bf16", link)
    assert est.allreduces == 2 * 46 + 1 and est.bytes_each == 8 * 4608 * 2
    each = cm.ring_allreduce_time_s(est.bytes_each, 2, link.alpha_s, link.bandwidth_Bps)
    gather = link.alpha_s + 0.5 * 8 * 256000 * 2 / link.bandwidth_Bps  # b·V logits to rank 0
    assert est.gather_bytes == 8 * 256000 * 2
    assert est.seconds_per_token == pytest.approx(93 * each + gather)
    assert cm.decode_comm_per_token(shape, 1, 8, "bf16", link).seconds_per_token == 0


def test_it_ranks_nvlink_faster_than_pcie_for_the_same_allreduce():
    shape = get_model("Llama-3.1-70B")
    times = {k: cm.decode_comm_per_token(shape, 8, 16, "bf16", LINKS[k]).seconds_per_token
             for k in ("nvlink4", "pcie5", "pcie4")}
    assert times["nvlink4"] < times["pcie5"] < times["pcie4"]


def test_it_adds_a_decode_steps_weight_reads_and_all_reduces():
    shape, link = get_model("Llama-3.1-8B"), get_link("pcie5")
    step = cm.decode_step_floor(shape, "bf16", 4, 8, 2.0e12, link)
    assert step.weight_read_s == cm.decode_weight_read_s(shape, "bf16", 4, 2.0e12)
    assert step.comm_s == cm.decode_comm_per_token(shape, 4, 8, "bf16", link).seconds_per_token
    assert step.total_s == pytest.approx(step.weight_read_s + step.comm_s)
    assert step.comm_share == pytest.approx(step.comm_s / step.total_s)
    fp8 = cm.decode_step_floor(shape, "fp8", 4, 8, 2.0e12, link)  # fp8 weights, bf16 activations
    assert fp8.weight_read_s == pytest.approx(step.weight_read_s / 2) and fp8.comm_s == step.comm_s
    assert cm.decode_step_floor(shape, "bf16", 1, 8, 2.0e12, link).comm_share == 0


def test_it_makes_tp8_over_pcie_slower_than_one_gpu_for_a_small_model():
    shape, link = get_model("Llama-3.1-8B"), get_link("pcie5")
    one, eight = (cm.decode_step_floor(shape, "bf16", tp, 8, 2.0e12, link).total_s for tp in (1, 8))
    assert eight > one


def test_it_catalogs_links_with_citations():
    # NVIDIA: 900 GB/s bidirectional per H100 SXM over 18 links -> 25 GB/s per link per direction
    assert LINKS["nvlink4"].bandwidth_Bps == pytest.approx(900e9 / 2)
    assert LINKS["nvlink3"].bandwidth_Bps == pytest.approx(600e9 / 2)
    assert LINKS["nvlink4-bridge"].bandwidth_Bps == pytest.approx(600e9 / 2)
    assert LINKS["pcie5"].bandwidth_Bps == 64e9
    assert all(link.source and link.kind in {"nvlink", "pcie", "network"} for link in LINKS.values())
    assert all("assumption" in link.source for link in LINKS.values())
    assert pcie_link(4, 8).bandwidth_Bps == 16e9
    assert nvlink_bond(4, 18).bandwidth_Bps == LINKS["nvlink4"].bandwidth_Bps
    assert nvlink_bond(4, 12).bandwidth_Bps == LINKS["nvlink4-bridge"].bandwidth_Bps
    assert nvlink_bond(3, 12).bandwidth_Bps == LINKS["nvlink3"].bandwidth_Bps
    assert link_for_gpu("NVIDIA H100 80GB HBM3").key == "nvlink4"
    assert link_for_gpu("NVIDIA H100 NVL").key == "nvlink4-bridge"
    assert link_for_gpu("NVIDIA GeForce RTX 4090") is None


def test_it_loads_every_catalog_model_from_its_hf_config():
    for name in list_models():
        shape = get_model(name)
        assert shape.name == name and shape.num_attention_heads % shape.num_key_value_heads == 0
    assert get_model("google/gemma-2-27b-it").name == "Gemma-2-27B"
    assert get_model("meta-llama/Meta-Llama-3.1-70B-Instruct").name == "Llama-3.1-70B"
    assert get_model("Gemma-3-27B").resolved_head_dim == 128


def test_it_names_the_missing_or_invalid_config_field():
    base = {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
            "intermediate_size": 128, "vocab_size": 100}
    assert ModelShape.from_hf_config(base).num_key_value_heads == 4
    with pytest.raises(ValueError, match="'vocab_size'"):
        ModelShape.from_hf_config({k: v for k, v in base.items() if k != "vocab_size"})
    with pytest.raises(ValueError, match="'hidden_size'.*positive"):
        ModelShape.from_hf_config({**base, "hidden_size": "big"})
    with pytest.raises(ValueError, match="'num_experts_per_tok'"):
        ModelShape.from_hf_config({**base, "num_local_experts": 8})
    with pytest.raises(ValueError, match="not in the catalog"):
        get_model("gpt-5")


def test_it_formats_bytes_in_decimal_units():
    assert cm.fmt_bytes(27.2e9) == "27.2 GB" and cm.fmt_bytes(512) == "512 B"
    assert math.isclose(cm.DEFAULT_OVERHEAD_FRACTION, 0.1)
