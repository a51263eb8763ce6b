import pytest
from hypothesis import given, strategies as st

from tpworkers.catalog.sizes import format_size, parse_size, sweep_sizes


@pytest.mark.parametrize(
    "text, expected",
    [("1K", 1024), ("64M", 64 << 20), ("1G", 1 << 30), ("4096", 4096), ("8k", 8192), ("2MB", 2 << 20)],
)
def test_it_parses_nccl_tests_sizes(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "K", "1.5K", "-1K", "1T", "abc"])
def test_it_refuses_malformed_sizes(text):
    with pytest.raises(ValueError):
        parse_size(text)


def test_it_formats_with_the_largest_exact_suffix():
    assert [format_size(n) for n in (1024, 64 << 20, 1 << 30, 1000, 1536, 0)] == [
        "1K", "64M", "1G", "1000", "1536", "0"]


@given(st.integers(min_value=0, max_value=1 << 40))
def test_it_round_trips_any_size(num_bytes):
    assert parse_size(format_size(num_bytes)) == num_bytes


def test_it_steps_sizes_like_all_reduce_perf():
    assert sweep_sizes(1024, 64 << 20, 4) == [1 << k for k in range(10, 27, 2)]
    assert sweep_sizes(8, 8, 2) == [8]


def test_it_refuses_an_empty_sweep():
    with pytest.raises(ValueError):
        sweep_sizes(2048, 1024, 2)
