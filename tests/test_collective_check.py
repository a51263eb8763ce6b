"""The #wrong check without rank processes: collectives simulated with plain tensor arithmetic."""

import pytest
import torch

from tpworkers.measure.collectives import check as collective_check
from tpworkers.measure.collectives.check import count_wrong, fill_pattern
from tpworkers.measure.configs import exact_integer_limit, exactness_error, pattern_peak

NAMES = {torch.float32: "float32", torch.float16: "float16", torch.bfloat16: "bfloat16"}


def _rank_buffers(count: int, world: int, dtype, per_rank_shard: bool = False):
    """What each rank fills before the collective: the whole message, or its shard of it."""
    shard = count // world
    if per_rank_shard:
        return [fill_pattern(torch.empty(shard, dtype=dtype), r * shard, r) for r in range(world)]
    return [fill_pattern(torch.empty(count, dtype=dtype), 0, r) for r in range(world)]


def _sum_in_order(buffers, order):
    """A reduction that adds the ranks' buffers one by one in `order`, rounding in their dtype."""
    total = buffers[order[0]].clone()
    for r in order[1:]:
        total += buffers[r]
    return total


@pytest.fixture(autouse=True)
def _small_chunks(monkeypatch):
    monkeypatch.setattr(collective_check, "CHUNK", 7)  # 50-element buffers cross several chunks


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_it_finds_no_wrong_element_in_correct_results_of_every_op(dtype):
    world, count = 3, 48
    summed = _sum_in_order(_rank_buffers(count, world, dtype), range(world))
    assert count_wrong("all_reduce", summed, world, rank=1) == 0
    shards = _sum_in_order(_rank_buffers(count, world, dtype), range(world)).chunk(world)
    assert count_wrong("reduce_scatter", shards[2].clone(), world, rank=2) == 0
    gathered = torch.cat(_rank_buffers(count, world, dtype, per_rank_shard=True))
    assert count_wrong("all_gather", gathered, world, rank=0) == 0
    assert count_wrong("broadcast", _rank_buffers(count, world, dtype)[0], world, rank=2) == 0


def test_it_counts_every_wrong_element():
    world, count = 4, 50
    summed = _sum_in_order(_rank_buffers(count, world, torch.float32), range(world))
    summed[[0, 13, 49]] += 1
    assert count_wrong("all_reduce", summed, world, rank=0) == 3
    missing_a_rank = _sum_in_order(_rank_buffers(count, world, torch.float32), range(world - 1))
    assert count_wrong("all_reduce", missing_a_rank, world, rank=0) == count
    gathered = torch.cat(_rank_buffers(48, world, torch.float32, per_rank_shard=True))
    assert count_wrong("all_gather", gathered.roll(1), world, rank=0) == 48     # shifted by one
    rank_one_shard = _sum_in_order(_rank_buffers(48, world, torch.float32), range(world)).chunk(world)[1]
    assert count_wrong("reduce_scatter", rank_one_shard.clone(), world, rank=2) == 12  # another rank's shard


def test_it_reads_the_exact_integer_range_from_the_dtype():
    for dtype in (torch.float32, torch.float16, torch.bfloat16):
        limit = exact_integer_limit(NAMES[dtype])
        integers = torch.arange(limit + 1, dtype=torch.float64)
        assert torch.equal(integers.to(dtype).double(), integers)          # all of 0..limit exact
        assert torch.tensor(limit + 1, dtype=torch.float64).to(dtype).item() != limit + 1


def _largest_exact_ranks(dtype) -> int:
    return max(n for n in range(1, 200) if exactness_error("all_reduce", n, NAMES[dtype]) is None)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_it_checks_sums_exactly_up_to_the_bound_and_refuses_one_rank_more(dtype):
    bound = _largest_exact_ranks(dtype)
    assert pattern_peak("all_reduce", bound) <= exact_integer_limit(NAMES[dtype]) < pattern_peak("all_reduce", bound + 1)
    count = 5  # one element of each residue k mod 5: the peak sum is among them
    at_bound = _rank_buffers(count, bound, dtype)
    for order in (range(bound), range(bound - 1, -1, -1)):
        assert count_wrong("all_reduce", _sum_in_order(at_bound, list(order)), bound, rank=0) == 0
    beyond = _rank_buffers(count, bound + 1, dtype)
    descending = _sum_in_order(beyond, list(range(bound, -1, -1)))       # largest terms first
    assert count_wrong("all_reduce", descending, bound + 1, rank=0) > 0    # a false alarm...
    assert "cannot be checked exactly" in exactness_error("all_reduce", bound + 1, NAMES[dtype])  # ...refused


def test_it_allows_every_rank_count_a_gpu_node_has_in_float32():
    assert exactness_error("all_reduce", 72, "float32") is None
    assert exactness_error("all_gather", 250, "bfloat16") is None
