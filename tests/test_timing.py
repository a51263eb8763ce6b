"""The one timer: per-call stamps, back-to-back stamps, synchronized wall time, nearest rank."""

import time

import pytest
import torch

from tpworkers.measure.timing import nearest_rank, per_call_seconds, wall_seconds

CPU = torch.device("cpu")


def _sleeper(seconds: float):
    return lambda: time.sleep(seconds)


def test_it_times_each_call_on_its_own():
    times = per_call_seconds([_sleeper(0.002), _sleeper(0.02)], CPU)
    assert len(times) == 2
    assert 0.002 <= times[0] < 0.02 <= times[1]


def test_it_leaves_gaps_out_only_when_calls_are_bracketed():
    gap = 0.01
    calls = [_sleeper(0.0), lambda: time.sleep(gap), _sleeper(0.0)]
    # The middle call stands for a gap after the first: back to back, the stamps between calls
    # make the durations add up to the whole sequence.
    chained = per_call_seconds(calls, CPU, back_to_back=True)
    begin = time.perf_counter()
    per_call_seconds(calls, CPU, back_to_back=True)
    whole = time.perf_counter() - begin
    assert sum(chained) >= gap and sum(chained) <= whole + gap


def test_it_measures_wall_time_around_a_call():
    assert 0.005 <= wall_seconds(_sleeper(0.005), CPU) < 0.5


@pytest.mark.parametrize(("fraction", "expected"), [(0.5, 50), (0.99, 99), (1.0, 100), (0.0, 1), (0.001, 1)])
def test_it_picks_the_nearest_rank(fraction, expected):
    assert nearest_rank(list(range(1, 101)), fraction) == expected


def test_it_keeps_p99_a_measured_value_for_few_samples():
    assert nearest_rank([1.0, 2.0, 3.0], 0.99) == 3.0
