"""The log-axis histogram of numeric guesses and the answer distributions (plain modules)."""
import pytest

from lessons.classroom import answers, charts


def test_it_bins_guesses_a_quarter_decade_wide_with_the_answer_and_its_band():
    h = charts.log_histogram([100, 150, 1000, 1100, 0], answer=1000, right=(950, 1050))
    counted = [(round(bar.low), bar.count) for bar in h.bars if bar.count]
    assert counted == [(100, 2), (1000, 2)]  # 100 and 150 share [100, 178); 1000 and 1100 [1000, 1778)
    assert (h.drawn, h.not_drawn, h.max_count) == (4, 1, 2)
    assert [label for _, label in h.ticks] == ["100", "1,000"]  # the axis ends at the last bin, 1,778
    band_x, band_width = h.band
    assert band_x < h.answer_x < band_x + band_width
    assert all(h.plot_left <= bar.x and bar.x + bar.width <= h.plot_right + 1e-6 for bar in h.bars)
    assert h.bin_width == "1/4 of a decade"


def test_it_widens_bins_to_whole_decades_when_guesses_span_many():
    h = charts.log_histogram([1e-3, 1e12], answer=1.0)
    assert len(h.bars) <= charts.MAX_BINS
    assert h.band is None and sum(bar.count for bar in h.bars) == 2
    assert h.bin_width == "1 decade"  # what the caption says, no longer a quarter


def test_it_has_nothing_to_draw_without_a_positive_value():
    assert charts.log_histogram([0, 0], answer=0) is None


def test_it_counts_choices_and_marks_the_answer():
    counts = answers.choice_counts(["a", "b", "a", "c"], ["a", "b", "c", "d"], "b")
    assert [(c.key, c.count, c.is_answer) for c in counts] == [("a", 2, False), ("b", 1, True), ("c", 1, False),
                                                               ("d", 0, False)]
    ticked = answers.choice_counts([["a", "b"], ["b"]], ["a", "b"], ["a", "b"])
    assert [(c.count, c.share, c.is_answer) for c in ticked] == [(1, 0.5, True), (2, 1.0, True)]


def test_it_measures_position_agreement_of_an_ordering():
    positions = answers.position_agreement([["x", "y", "z"], ["y", "x", "z"]], ["x", "y", "z"])
    assert [(p.number, p.key, p.agree, p.share) for p in positions] == [(1, "x", 1, 0.5), (2, "y", 1, 0.5),
                                                                        (3, "z", 2, 1.0)]


@pytest.mark.parametrize("kind, first, expected", [
    ("single", [("a", True), ("b", False), ("c", False), ("c", False)], ("c", 2)),
    ("multiple", [(["b", "a"], False), (["a", "b"], False), (["a"], True)], (["b", "a"], 2)),
    ("ordering", [(["y", "x"], False), (["x", "y"], True)], (["y", "x"], 1)),
    ("numeric", [(1000, False), (1001, False), (1024, False), (512, True)], (1000.0, 2)),
])
def test_it_finds_the_most_common_wrong_answer(kind, first, expected):
    wrong = answers.most_common_wrong(first, kind)
    assert (wrong.answer, wrong.count, wrong.answered) == (*expected, len(first))


def test_it_finds_no_misconception_when_everyone_is_right():
    assert answers.most_common_wrong([("a", True), ("a", True)], "single") is None
