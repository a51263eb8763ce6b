"""Item statistics of a class's predictions, as Moodle's quiz statistics define them
(https://docs.moodle.org/dev/Quiz_statistics_calculations), on first attempts. Plain Python.

An item is a predict step. A learner's score on it is 1 when their first guess was right and
0 when it was wrong; an item they have not answered yet has no score (not a zero: a course is
taken over weeks, while a Moodle quiz attempt is taken at once).

- Facility index F = the mean score of the learners who answered: the share right first time.
- Discrimination index D = the Pearson correlation, over the learners who answered the item,
  between the item's score x and the rest score (how well the learner did on everything else):

      D = Σ (x - x̄)(r - r̄) / sqrt(Σ (x - x̄)² · Σ (r - r̄)²)

  Moodle's rest score is the total of the other questions (X - x). Here it is the share right
  among the other items the learner answered. When everyone answered every item that is
  Moodle's rest score divided by (items - 1), and a correlation does not change when a variable
  is scaled, so D is Moodle's; on an unfinished course it does not punish a learner for not
  having reached an item. D is None where it is undefined: fewer than two such learners, or
  every score (or every rest score) the same.
- Flags: too easy (F > 0.9), too hard (F < 0.2), negative discrimination (D < 0): the
  learners who did well elsewhere got this one wrong more often — a misleading question.
- Retention: of the class's reviews of the item in the review queue (lessons.review), the
  share the learner recalled (any rating but Again) — what FSRS and Anki call true retention:
  measured on real reviews, unlike the scheduler's forecast of recall.

Both indices are fractions here (Moodle prints them as percentages).
"""
from __future__ import annotations

import math
import statistics
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass

TOO_EASY = 0.9
TOO_HARD = 0.2


@dataclass(frozen=True)
class ItemStats:
    item: Hashable
    answered: int  # learners with a first attempt
    facility: float | None
    discrimination: float | None
    median_seconds: float | None  # opening the step to the first guess
    flags: tuple[str, ...]
    reviews: int = 0  # in the review queue
    retention: float | None = None


def facility(scores: Iterable[int]) -> float | None:
    scores = list(scores)
    return sum(scores) / len(scores) if scores else None


def correlation(xs: list[float], ys: list[float]) -> float | None:
    """Pearson's r; None when it is undefined (under two points, or no spread in either)."""
    if len(xs) < 2:
        return None
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    if sxx == 0 or syy == 0:
        return None
    return sxy / math.sqrt(sxx * syy)


def rest_score(scores: Mapping[Hashable, int], item: Hashable) -> float | None:
    """Share right among the learner's other answered items; None when there are none."""
    others = [score for other, score in scores.items() if other != item]
    return sum(others) / len(others) if others else None


def discrimination(scores: Mapping[Hashable, Mapping[Hashable, int]], item: Hashable) -> float | None:
    """D of ``item`` over learners' scores (learner -> item -> 0 or 1, answered items only)."""
    pairs = [(own[item], rest_score(own, item)) for own in scores.values() if item in own]
    pairs = [(x, rest) for x, rest in pairs if rest is not None]
    return correlation([x for x, _ in pairs], [rest for _, rest in pairs])


def flags(facility_index: float | None, discrimination_index: float | None) -> tuple[str, ...]:
    found = []
    if facility_index is not None and facility_index > TOO_EASY:
        found.append("too easy")
    if facility_index is not None and facility_index < TOO_HARD:
        found.append("too hard")
    if discrimination_index is not None and discrimination_index < 0:
        found.append("negative discrimination")
    return tuple(found)


def retention(recalled: Iterable[bool]) -> float | None:
    """Share of reviews recalled; None before the first review."""
    recalled = list(recalled)
    return sum(recalled) / len(recalled) if recalled else None


def median(values: Iterable[float]) -> float | None:
    values = list(values)
    return statistics.median(values) if values else None


def item_statistics(scores: Mapping[Hashable, Mapping[Hashable, int]], items: Iterable[Hashable],
                    seconds: Mapping[Hashable, list[float]] | None = None,
                    recalled: Mapping[Hashable, list[bool]] | None = None) -> list[ItemStats]:
    """One ItemStats per item, in the order given. ``scores``: learner -> item -> 0/1 for the
    items they answered; ``seconds``: item -> seconds from opening it to the first guess;
    ``recalled``: item -> for each review of it in the queue, whether it was recalled."""
    seconds, recalled = seconds or {}, recalled or {}
    found = []
    for item in items:
        answered = [own[item] for own in scores.values() if item in own]
        f, d = facility(answered), discrimination(scores, item)
        reviews = recalled.get(item, [])
        found.append(ItemStats(item, len(answered), f, d, median(seconds.get(item, ())), flags(f, d),
                               len(reviews), retention(reviews)))
    return found
