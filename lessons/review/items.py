"""Review items: lesson steps asked again, and how an answer becomes an FSRS rating.

Every recall step is an item (self-rated Again / Hard / Good / Easy, as in the lesson), and
every prediction, all of whose kinds have a checkable answer (choice, choices, order, number
within its tolerance). A prediction with generated variants is asked as one of them, its answer
computed by the same expression evaluator (lessons.variants).

The rule for auto-graded items, shown on the page (``RULE``):

- wrong: Again;
- right, but slower than ``SLOW_S`` from the question appearing to the answer, or a number in the
  outer half of its tolerance: Hard;
- right within ``QUICK_S``, and a number (if it is one) in the inner half of its tolerance: Easy;
- any other right answer: Good.
"""
from __future__ import annotations

import copy
import random
from dataclasses import dataclass
from datetime import timedelta

from lessons import predictions
from lessons.content_format import render
from lessons.models import Step
from lessons.review.models import Rating
from lessons.variants import fresh_seed, variant_config

SLOW_S = 60
QUICK_S = 15
RULE = (f"Wrong: Again. Right: Good — Hard if it took you over {SLOW_S} s or a number was in the outer "
        f"half of its tolerance; Easy if it took under {QUICK_S} s (and a number was in the inner half).")
KINDS = (Step.Kind.RECALL, Step.Kind.PREDICT)


@dataclass
class Question:
    """A step as the queue or a quiz asks it; ``step`` carries the variant's config (never saved)."""

    step: Step
    seed: int | None

    @property
    def config(self) -> dict:
        return self.step.config

    @property
    def names(self) -> dict | None:
        return self.config.get("names")

    @property
    def recall(self) -> bool:
        return self.step.kind == Step.Kind.RECALL

    def prompt(self):
        return render(self.config["prompt"], names=self.names)

    def why(self):
        """A prediction's explanation, or a recall prompt's answer."""
        return render(self.config["answer" if self.recall else "why"], names=self.names)

    def options(self) -> list[dict]:
        return predictions.options(self.step)

    def unit_label(self) -> str:
        return predictions.unit_label(self.step)

    def answer_text(self) -> str:
        if self.config["kind"] == "numeric":
            return predictions.describe(self.step, predictions.answer_value(self.step))
        return predictions.describe(self.step, self.config["answer"])


def question(step: Step, seed: int | None) -> Question:
    if seed is None or "variants" not in step.config:
        return Question(step, None)
    variant = copy.copy(step)
    variant.config = variant_config(step.config, seed)
    return Question(variant, seed)


def fresh_question(step: Step, rng: random.Random, previous_seed: int | None = None) -> Question:
    """The step as a review asks it: a newly drawn variant where it has variants."""
    if "variants" not in step.config:
        return Question(step, None)
    return question(step, fresh_seed(step.config["variants"], rng, previous_seed))


@dataclass
class Graded:
    answer: object
    correct: bool
    closeness: float | None  # |error| / tolerance band, for a number judged with a tolerance


def grade(q: Question, post) -> Graded:
    """Read and judge an answer; predictions.GuessError says what is wrong with the input."""
    answer = predictions.read_guess(q.step, post)
    correct = bool(predictions.judge(q.step, answer))
    closeness = None
    tolerance = float(q.config.get("tolerance") or 0)
    if q.config["kind"] == "numeric" and tolerance > 0:
        target = predictions.answer_value(q.step)
        closeness = abs(answer - target) / (tolerance * abs(target))
    return Graded(answer, correct, closeness)


def rating_for(graded: Graded, took: timedelta | None) -> int:
    if not graded.correct:
        return Rating.AGAIN
    seconds = took.total_seconds() if took is not None else None
    outer_half = graded.closeness is not None and graded.closeness > 0.5
    if outer_half or (seconds is not None and seconds > SLOW_S):
        return Rating.HARD
    if seconds is not None and seconds < QUICK_S:
        return Rating.EASY
    return Rating.GOOD
