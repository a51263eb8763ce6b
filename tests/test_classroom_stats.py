"""Item statistics (lessons.classroom.stats) against a class worked by hand."""
import math

import pytest

from lessons.classroom import stats

# Five learners A..E, five predictions q1..q5, first guesses: 1 right, 0 wrong.
ITEMS = {"q1": [1, 1, 0, 0, 0], "q2": [1, 1, 1, 0, 0], "q3": [1, 1, 1, 1, 1], "q4": [0, 0, 0, 0, 1], "q5": [0, 0, 0, 0, 0]}
SCORES = {learner: {item: column[i] for item, column in ITEMS.items()} for i, learner in enumerate("ABCDE")}


def test_it_computes_facility_and_discrimination_as_worked_by_hand():
    """Worked by hand, with Moodle's rest score (the total minus the item's score).

    Totals X over q1..q5: A 3, B 3, C 2, D 1, E 2.

    Facility F = share right: q1 2/5 = 0.4, q2 3/5 = 0.6, q3 5/5 = 1.0, q4 1/5 = 0.2, q5 0/5 = 0.

    q1: x = 1 1 0 0 0 (mean 0.4); rest X - x = 2 2 2 1 2 (mean 1.8)
        x - x̄ = .6 .6 -.4 -.4 -.4;  r - r̄ = .2 .2 .2 -.8 .2
        Σ products = .12 + .12 - .08 + .32 - .08 = 0.4
        Σ (x - x̄)² = 2·.36 + 3·.16 = 1.2;  Σ (r - r̄)² = 4·.04 + .64 = 0.8
        D = 0.4 / √(1.2 · 0.8) = 0.4 / √0.96 = 1/√6 ≈ 0.408
    q2: x = 1 1 1 0 0 (mean 0.6); rest = 2 2 1 1 2 (mean 1.6)
        x - x̄ = .4 .4 .4 -.6 -.6;  r - r̄ = .4 .4 -.6 -.6 .4
        Σ products = .16 + .16 - .24 + .36 - .24 = 0.2
        Σ (x - x̄)² = 3·.16 + 2·.36 = 1.2;  Σ (r - r̄)² = 1.2
        D = 0.2 / 1.2 = 1/6 ≈ 0.167
    q4: x = 0 0 0 0 1 (mean 0.2); rest = 3 3 2 1 1 (mean 2)
        x - x̄ = -.2 -.2 -.2 -.2 .8;  r - r̄ = 1 1 0 -1 -1
        Σ products = -.2 - .2 + 0 + .2 - .8 = -1.0
        Σ (x - x̄)² = 4·.04 + .64 = 0.8;  Σ (r - r̄)² = 4
        D = -1 / √3.2 ≈ -0.559: the strongest learners got it wrong — flagged
    q3 and q5: everyone scored the same, so D is undefined (0/0): None.
    q3 is too easy (1.0 > 0.9), q5 too hard (0 < 0.2); q4 at exactly 0.2 is not too hard.

    The module's rest score is the share right among the other answered items, here the
    rest above divided by 4 for everyone: the correlations are the same.
    """
    found = {row.item: row for row in stats.item_statistics(SCORES, list(ITEMS))}
    assert [found[q].facility for q in ITEMS] == pytest.approx([0.4, 0.6, 1.0, 0.2, 0.0])
    assert found["q1"].discrimination == pytest.approx(1 / math.sqrt(6))
    assert found["q2"].discrimination == pytest.approx(1 / 6)
    assert found["q4"].discrimination == pytest.approx(-1 / math.sqrt(3.2))
    assert found["q3"].discrimination is None and found["q5"].discrimination is None
    assert {q: found[q].flags for q in ITEMS} == {"q1": (), "q2": (), "q3": ("too easy",),
                                                 "q4": ("negative discrimination",), "q5": ("too hard",)}
    assert all(found[q].answered == 5 for q in ITEMS)


def test_it_leaves_out_what_a_learner_has_not_answered_instead_of_counting_it_wrong():
    """A has not reached q2: q2's figures are over B..E only (a zero would have dragged F down).

    q2 over B..E: x = 1 1 0 0 (F = 0.5); rest = share right of their other 4 items:
    B 2/4, C 1/4, D 1/4, E 2/4 -> .5 .25 .25 .5 (mean .375)
    x - x̄ = .5 .5 -.5 -.5;  r - r̄ = .125 -.125 -.125 .125 -> Σ products = 0, D = 0.
    """
    partial = {learner: dict(scores) for learner, scores in SCORES.items()}
    del partial["A"]["q2"]
    found = {row.item: row for row in stats.item_statistics(partial, list(ITEMS))}
    assert found["q2"].answered == 4 and found["q2"].facility == pytest.approx(0.5)
    assert found["q2"].discrimination == pytest.approx(0.0)


def test_it_takes_the_median_time_to_the_first_guess():
    rows = stats.item_statistics(SCORES, ["q1", "q2", "q3"], {"q1": [12, 300, 45, 30, 60], "q2": [10, 20]})
    assert [row.median_seconds for row in rows] == [45, 15, None]


def test_it_takes_retention_as_the_share_of_queue_reviews_recalled():
    rows = stats.item_statistics(SCORES, ["q1", "q2"], recalled={"q1": [True, True, False, True]})
    assert [(row.reviews, row.retention) for row in rows] == [(4, 0.75), (0, None)]


def test_it_has_no_index_for_an_item_nobody_answered():
    row, = stats.item_statistics({"A": {}, "B": {}}, ["q9"])
    assert (row.answered, row.facility, row.discrimination, row.flags) == (0, None, None, ())
