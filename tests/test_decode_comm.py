"""Decode-step communication: 2·L all-reduces of b·h·bytes, measured beside the cost model."""

import pytest

from tpworkers import costmodel
from tpworkers.collectives import SweepCancelled
from tpworkers.decode_comm import DecodeCommConfig, main, run_decode_comm
from tpworkers.launcher import ConfigError, shutdown_pool
from tpworkers.links import LINKS
from tpworkers.modelshapes import get_model

SMALL = dict(model="llama-3.1-8b", tp=2, tokens_in_flight=2, dtype="float32", layers=3, steps=3, warmup=1)


@pytest.fixture(scope="module", autouse=True)
def _stop_pool_after_module():
    yield
    shutdown_pool()


def test_it_measures_two_allreduces_per_layer_beside_the_modelled_time():
    streamed = []
    record = run_decode_comm(DecodeCommConfig(**SMALL), on_record=streamed.append)
    assert [r.steps_done for r in streamed] == [1, 2, 3] and streamed[-1] == record
    hidden = get_model("llama-3.1-8b").hidden_size
    assert (record.layers, record.allreduces_per_token) == (3, 6)
    assert record.bytes_each == 2 * hidden * 4
    assert 0 < record.measured_call_min_us <= record.measured_call_median_us <= record.measured_call_p99_us
    # a step is its 6 calls back to back, so it cannot beat 6 of the fastest call
    assert record.measured_us_per_token >= 6 * record.measured_call_min_us
    shape = DecodeCommConfig(**SMALL).shape()
    modelled = costmodel.decode_comm_per_token(shape, 2, 2, "float32", LINKS["nvlink4"])
    assert record.modelled_us_per_token == pytest.approx(modelled.seconds_per_token * 1e6)
    assert record.modelled_call_us == pytest.approx(modelled.seconds_each * 1e6)
    assert record.transport is None and record.link == "nvlink4"


def test_it_stops_between_decode_steps():
    asked = []
    with pytest.raises(SweepCancelled) as cancelled:
        run_decode_comm(DecodeCommConfig(**SMALL), should_stop=lambda: asked.append(1) or len(asked) > 2)
    assert [r.steps_done for r in cancelled.value.measurements] == [2]


@pytest.mark.parametrize(
    "changes, constraint",
    [(dict(model="llama-3.1-70b", tp=3), "64 heads are not divisible by TP=3"),
     (dict(model="no-such-model"), "not in the catalog"),
     (dict(link="carrier-pigeon"), "link must be one of"),
     (dict(tp=1), "no communication to measure"),
     (dict(dtype="fp8"), "dtype must be one of"),
     (dict(tokens_in_flight=0), "at least 1"),
     (dict(tp=8, backend="nccl", device="cuda", gpus=tuple(range(8))), "CUDA|GPU")],
)
def test_it_refuses_impossible_decode_runs(changes, constraint):
    with pytest.raises(ConfigError, match=constraint):
        run_decode_comm(DecodeCommConfig(**{**SMALL, **changes}))


def test_it_prints_measured_and_modelled_lines(capsys):
    assert main(["--model", "llama-3.1-8b", "--tp", "2", "-b", "1", "-d", "float32",
                 "--layers", "2", "--steps", "2"]) == 0
    out = capsys.readouterr().out
    assert "4 all-reduces of 16384 B per token" in out
    assert out.count("\nmeasured ") == 1 and out.count("\nmodelled ") == 1
