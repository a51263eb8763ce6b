"""How a class answered one prediction, from its first guesses. Plain Python: answers come in
as lessons.models.Guess stores them (a choice key, a list of keys, or a number), each with
whether it was right.

- Choices: how many learners picked (or ticked) each choice.
- Ordering: position agreement — for each position, the share of learners who put the right
  item there — and how many got the whole order.
- The most common wrong answer: the same wrong answer given by the most learners. For a
  multiple choice the same set of ticks; for an ordering the same order; for a number the
  same value to three significant figures (1,000 and 1,001 count as one answer, 1,000 and 1,024
  as two).
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class ChoiceCount:
    key: str
    count: int
    share: float  # of the learners who answered
    is_answer: bool


@dataclass(frozen=True)
class Position:
    number: int  # 1 first
    key: str  # the item that belongs here
    agree: int  # learners who put it here
    share: float


@dataclass(frozen=True)
class WrongAnswer:
    answer: object  # as stored: key, list of keys, or number
    count: int  # learners whose first guess it was
    answered: int  # learners who answered the step


def choice_counts(first_answers: list, keys: list[str], expected) -> list[ChoiceCount]:
    """Per choice, the learners whose first answer picked it (single) or ticked it (multiple)."""
    tally = Counter(key for answer in first_answers for key in (answer if isinstance(answer, list) else [answer]))
    wanted = set(expected) if isinstance(expected, list) else {expected}
    total = len(first_answers)
    return [ChoiceCount(key, tally[key], tally[key] / total if total else 0.0, key in wanted) for key in keys]


def position_agreement(first_answers: list[list[str]], expected: list[str]) -> list[Position]:
    total = len(first_answers)
    found = []
    for index, key in enumerate(expected):
        agree = sum(1 for answer in first_answers if index < len(answer) and answer[index] == key)
        found.append(Position(index + 1, key, agree, agree / total if total else 0.0))
    return found


def same_answer(answer) -> object:
    """What two answers must share to count as the same answer (see the module's docstring)."""
    if isinstance(answer, list):
        return tuple(answer)  # an ordering, or a multiple choice sorted by most_common_wrong
    if isinstance(answer, (int, float)):
        return float(f"{answer:.3g}")
    return answer


def most_common_wrong(first: Iterable[tuple[object, bool | None]], kind: str) -> WrongAnswer | None:
    """The wrong first answer most learners gave (the first met wins a tie); None when no one
    was wrong. ``first``: (answer, correct) per learner."""
    first = list(first)
    wrong = Counter()
    stored = {}
    for answer, correct in first:
        if correct is not False:
            continue
        key = same_answer(sorted(answer) if kind == "multiple" else answer)
        wrong[key] += 1
        stored.setdefault(key, answer if not isinstance(answer, (int, float)) else key)
    if not wrong:
        return None
    key, count = wrong.most_common(1)[0]
    return WrongAnswer(stored[key], count, len(first))
