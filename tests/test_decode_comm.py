"""Decode-step communication: 2·L all-reduces of b·h·bytes, measured beside the cost model with
α and B fitted on the same ranks, and beside a catalog link labelled as such."""

import dataclasses

import pytest

from tpworkers.measure import collectives
from tpworkers.catalog import costmodel
from tpworkers.measure import decode_comm
from tpworkers.measure.decode_comm import run_decode_comm
from tpworkers.measure.configs import DecodeCommConfig
from tpworkers.measure.decode_comm.__main__ import main
from tpworkers.measure.launcher import ConfigError, SweepCancelled, shutdown_pool
from tpworkers.catalog.links import LINKS, Link
from tpworkers.catalog.modelshapes import get_model
from tpworkers.catalog.sizes import sweep_sizes

SMALL = dict(model="llama-3.1-8b", tp=2, tokens_in_flight=2, dtype="float32", layers=3, steps=3, warmup=1,
             fit_iters=3)


@pytest.fixture(scope="module", autouse=True)
def _stop_pool_after_module():
    yield
    shutdown_pool()


@pytest.fixture(scope="module")
def record():
    streamed = []
    last = run_decode_comm(DecodeCommConfig(**SMALL), on_record=streamed.append)
    return streamed, last


def test_it_measures_two_allreduces_per_layer_and_one_for_the_embedding(record):
    streamed, last = record
    assert [r.steps_done for r in streamed] == [1, 2, 3, 3] and streamed[-1] == last
    hidden = get_model("llama-3.1-8b").hidden_size
    assert (last.layers, last.allreduces_per_token) == (3, 7)
    assert last.bytes_each == costmodel.allreduce_bytes(hidden, 2, "float32")
    assert 0 < last.measured_call_min_us <= last.measured_call_median_us <= last.measured_call_p99_us
    # a step is its 6 calls back to back, so it cannot beat 6 of the fastest call
    assert last.measured_us_per_token >= 6 * last.measured_call_min_us
    assert last.transport is None


def test_it_fits_alpha_and_bandwidth_on_the_same_ranks_around_the_message_size(record):
    streamed, last = record
    assert all(r.fit_sizes_bytes is None and r.fitted_us_per_token is None for r in streamed[:-1])
    size = last.bytes_each
    assert last.fit_sizes_bytes == tuple(sweep_sizes(size // 16, size * 16, 4))  # S/16 .. 16 S
    assert len(last.fit_time_us) == 5 and last.fit_wrong == 0
    points = [(s, t / 1e6) for s, t in zip(last.fit_sizes_bytes, last.fit_time_us)]
    try:
        alpha, bandwidth = costmodel.fit_alpha_beta(points, 2)
    except ValueError as error:  # a noisy CPU sweep may not grow with size: then it says so
        assert last.fit_error == str(error) and last.fitted_us_per_token is None
        return
    assert last.fit_error is None
    assert (last.fitted_alpha_us, last.fitted_bandwidth_GBps) == pytest.approx((alpha * 1e6, bandwidth / 1e9))
    fitted = Link("fitted", "fit", bandwidth, alpha, "measured", "")
    shape = DecodeCommConfig(**SMALL).shape()
    expected = costmodel.decode_comm_per_token(shape, 2, 2, "float32", fitted)
    assert last.fitted_us_per_token == pytest.approx(expected.allreduce_seconds * 1e6)
    assert last.fitted_call_us == pytest.approx(expected.seconds_each * 1e6)


def test_it_has_no_catalog_link_on_cpu_unless_one_is_chosen(record):
    _, last = record
    assert (last.link, last.link_basis, last.modelled_us_per_token) == (None, "no catalog link: CPU", None)
    config = DecodeCommConfig(**{**SMALL, "link": "nvlink4"})
    link, basis = decode_comm.catalog_link(config)
    assert (link, basis) == (LINKS["nvlink4"], "chosen")


def test_it_models_the_chosen_catalog_link(monkeypatch):
    monkeypatch.setattr(decode_comm, "run_sweep", lambda config, **_: collectives.SweepResult(config, [], None))
    monkeypatch.setattr(costmodel, "fit_alpha_beta", lambda points, n: (_ for _ in ()).throw(ValueError("no rows")))
    config = DecodeCommConfig(**{**SMALL, "link": "pcie5", "steps": 1})
    last = run_decode_comm(config)
    modelled = costmodel.decode_comm_per_token(config.shape(), 2, 2, "float32", LINKS["pcie5"])
    assert last.modelled_us_per_token == pytest.approx(modelled.allreduce_seconds * 1e6)
    assert last.modelled_call_us == pytest.approx(modelled.seconds_each * 1e6)
    assert (last.link, last.link_basis, last.fit_error) == ("pcie5", "chosen", "no rows")


def test_it_stops_between_decode_steps():
    asked = []
    with pytest.raises(SweepCancelled) as cancelled:
        run_decode_comm(DecodeCommConfig(**SMALL), should_stop=lambda: asked.append(1) or len(asked) > 2)
    assert [r.steps_done for r in cancelled.value.measurements] == [2]


def test_it_stops_during_the_fit_sweep_and_keeps_the_measured_steps():
    asked = []
    with pytest.raises(SweepCancelled) as cancelled:
        run_decode_comm(DecodeCommConfig(**SMALL), should_stop=lambda: asked.append(1) or len(asked) > 4)
    (kept,) = cancelled.value.measurements
    assert kept.steps_done == 3 and kept.fitted_us_per_token is None


@pytest.mark.parametrize(
    "changes, constraint",
    [(dict(model="llama-3.1-70b", tp=3), "64 heads are not divisible by TP=3"),
     (dict(model="no-such-model"), "not in the catalog"),
     (dict(link="carrier-pigeon"), "link must be one of"),
     (dict(tp=1), "no communication to measure"),
     (dict(dtype="fp8"), "dtype must be one of"),
     (dict(tokens_in_flight=0), "at least 1"),
     (dict(fit_iters=0), "at least 1"),
     (dict(backend="nccl", device="cuda", gpus=(99, 98)), "no CUDA GPU|asks for GPU 99")],
)
def test_it_refuses_impossible_decode_runs_before_starting_any_process(monkeypatch, changes, constraint):
    def no_pool(group):
        pytest.fail("a pool was started")

    monkeypatch.setattr(decode_comm, "get_pool", no_pool)
    monkeypatch.setattr(collectives, "get_pool", no_pool)
    with pytest.raises(ConfigError, match=constraint):
        run_decode_comm(DecodeCommConfig(**{**SMALL, **changes}))


def test_it_refuses_a_fit_sweep_that_would_not_fit_in_memory(monkeypatch):
    monkeypatch.setattr(decode_comm, "get_pool", lambda group: pytest.fail("a pool was started"))
    monkeypatch.setattr("tpworkers.measure.devicegroup.host_memory_available", lambda: 1 << 20)
    with pytest.raises(ConfigError, match="RAM available"):
        run_decode_comm(DecodeCommConfig(**SMALL))


def test_it_prints_measured_fitted_and_catalog_lines(capsys):
    assert main(["--model", "llama-3.1-8b", "--tp", "2", "-b", "1", "-d", "float32",
                 "--layers", "2", "--steps", "2", "--fit-iters", "2", "--link", "nvlink4"]) == 0
    out = capsys.readouterr().out
    assert "5 all-reduces of 16384 B per token" in out
    assert out.count("\nmeasured ") == 1 and out.count("\nmodelled ") == 1
    assert "fitted on this device group" in out or "no fit:" in out
    assert "\nif this ran on nvlink4: " in out and "(modelled, catalog figures; chosen)" in out


def test_it_says_there_is_no_catalog_link_on_cpu(capsys):
    assert main(["--model", "llama-3.1-8b", "--layers", "1", "--steps", "1", "-b", "1", "--fit-iters", "1"]) == 0
    assert "# no catalog link: CPU: pass --link" in capsys.readouterr().out


def test_it_keeps_the_record_keys_the_run_page_reads(record):
    _, last = record
    keys = {field.name for field in dataclasses.fields(last)}
    assert {"allreduces_per_token", "bytes_each", "measured_us_per_token", "steps_done", "measured_call_min_us",
            "measured_call_median_us", "measured_call_p99_us", "modelled_us_per_token", "link", "transport"} <= keys
