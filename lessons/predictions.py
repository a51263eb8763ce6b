"""Reading, judging and summarising predictions. Numeric answers are cost-model expressions,
evaluated when judged, so an answer can never drift from the model."""
from __future__ import annotations

import math
import statistics
from collections import Counter

from django.db import IntegrityError, transaction

from lessons.figures import evaluate, format_number, in_unit
from lessons.models import Guess, Reveal, Step

CLASS_MINIMUM = 5  # first guesses needed before the class's answers are shown


class GuessError(ValueError):
    pass


class GuessRefused(GuessError):
    """The guess was readable but is not taken (the step is closed, or it is already saved)."""


def options(step: Step) -> list[dict]:
    return step.config.get("items" if step.config.get("kind") == "ordering" else "choices", [])


def read_guess(step: Step, post) -> object:
    """The committed answer from a POST, in the form it is stored; GuessError says what is wrong."""
    kind = "numeric" if step.kind == Step.Kind.LAB else step.config["kind"]
    keys = [o["key"] for o in options(step)]
    if kind == "single":
        if post.get("choice") not in keys:
            raise GuessError("Pick one answer first.")
        return post["choice"]
    if kind == "multiple":
        chosen = [k for k in keys if k in post.getlist("choice")]
        if not chosen:
            raise GuessError("Tick at least one answer.")
        return chosen
    if kind == "ordering":
        try:
            positions = {k: int(post.get(f"pos_{k}", "")) for k in keys}
        except ValueError:
            raise GuessError("Give every item a position.") from None
        if sorted(positions.values()) != list(range(1, len(keys) + 1)):
            raise GuessError(f"Use each position from 1 to {len(keys)} exactly once.")
        return sorted(keys, key=positions.get)
    try:
        value = float(post.get("value", "").replace(",", ""))
    except ValueError:
        raise GuessError("Enter a number.") from None
    if not math.isfinite(value) or value < 0:  # inf/1e999 would not fit in JSON
        raise GuessError("Enter a number of zero or more.")
    return value


def answer_value(step: Step) -> float:
    """The right numeric answer in the step's unit; a generated variant's config carries the
    names its expression uses (lessons.variants)."""
    return in_unit(evaluate(step.config["answer"], step.config.get("names")), step.config["unit"])


def right_answer(step: Step):
    """The right answer in the form guesses take: a number in the step's unit, else the keys."""
    return answer_value(step) if step.config["kind"] == "numeric" else step.config["answer"]


def answer_text(step: Step) -> str:
    """The right answer in words, as a reveal shows it."""
    return describe(step, right_answer(step))


def judge(step: Step, answer) -> bool | None:
    """Right or wrong; None for a lab guess, which only a measurement can judge."""
    if step.kind == Step.Kind.LAB:
        return None
    kind, expected = step.config["kind"], step.config["answer"]
    if kind == "numeric":
        low, high = right_range(step)
        return low <= answer <= high
    if kind == "multiple":
        return sorted(answer) == sorted(expected)
    return answer == expected


def right_range(step: Step) -> tuple[float, float]:
    """The numeric guesses judged right, lowest to highest: the answer ± its tolerance, or
    (``within_factor``) from answer/factor to answer·factor, a log scale. The instructor's
    histogram shades the same range."""
    target = answer_value(step)
    factor = step.config.get("within_factor")
    if factor:
        return (target / float(factor), target * float(factor)) if target > 0 else (1.0, 0.0)  # nothing is right
    spread = float(step.config["tolerance"]) * abs(target)
    return target - spread, target + spread


def tolerance_text(step: Step) -> str:
    """How a numeric guess is judged, said on the step before the learner guesses."""
    factor = step.config.get("within_factor")
    if factor:
        return (f"Judged right within a factor of {format_number(factor)} either way (a log scale: from "
                f"1/{format_number(factor)} of the answer to {format_number(factor)} times it).")
    tolerance = float(step.config["tolerance"])
    return (f"Judged right within ±{format_number(100 * tolerance)}% of the answer." if tolerance
            else "Judged right only when exact.")


def commit(learner, step: Step, answer) -> Guess:
    """Save the guess as the next attempt; GuessRefused when the step is closed, or when this very
    answer is already the latest (a double click, a form sent twice). Atomic under concurrent
    requests: SQLite's IMMEDIATE transaction serialises them, and where two still pick the same
    attempt number (PostgreSQL) the unique constraint refuses the second instead of a 500."""
    try:
        with transaction.atomic():
            refusal = why_closed(learner, step)
            latest = Guess.objects.filter(learner=learner, step=step).order_by("-attempt").first()
            if refusal:
                raise GuessRefused(refusal)
            if latest and latest.answer == answer:
                raise GuessRefused(f"This guess is already committed (attempt {latest.attempt}); it was not saved again.")
            return Guess.objects.create(learner=learner, step=step, attempt=latest.attempt + 1 if latest else 1,
                                        answer=answer, correct=judge(step, answer))
    except IntegrityError:
        raise GuessRefused("Another request committed a guess at the same moment; that one was kept "
                           "and this one was not saved.") from None


def describe(step: Step, answer) -> str:
    """An answer in words, as the learner would recognise it."""
    text = {o["key"]: o["text"] for o in options(step)}
    if isinstance(answer, list):
        return " → ".join(text.get(k, k) for k in answer) if step.config.get("kind") == "ordering" \
            else "; ".join(text.get(k, k) for k in answer)
    if isinstance(answer, (int, float)):
        return f"{format_number(answer)} {step.config.get('unit_label') or unit_label(step)}".strip()
    return text.get(answer, str(answer))


def unit_label(step: Step) -> str:
    from lessons.figures import UNITS

    from lessons.labs import lab_for

    unit = lab_for(step.config).unit if step.kind == Step.Kind.LAB else step.config.get("unit", "")
    return UNITS.get(unit, (1, unit))[1]


def class_summary(step: Step) -> dict | None:
    """How the class answered on their first attempt, once enough learners have."""
    firsts = list(Guess.objects.filter(step=step, attempt=1).values_list("answer", "correct"))
    if len(firsts) < CLASS_MINIMUM:
        return None
    summary = {"count": len(firsts), "correct": sum(1 for _, c in firsts if c)}
    if step.config.get("kind") in ("single", "multiple"):
        tally = Counter(k for answer, _ in firsts for k in (answer if isinstance(answer, list) else [answer]))
        summary["choices"] = [{"text": o["text"], "count": tally[o["key"]],
                               "percent": round(100 * tally[o["key"]] / len(firsts))} for o in options(step)]
    if step.config.get("kind") == "numeric":
        summary["median"] = format_number(statistics.median(a for a, _ in firsts))
    return summary


def has_guessed(learner, step: Step) -> bool:
    return Guess.objects.filter(learner=learner, step=step).exists()


def why_closed(learner, step: Step) -> str | None:
    """Why this step takes no more guesses, or None while it does. A prediction closes when its
    answer is revealed (a guess made knowing the answer is no prediction); a lab takes one
    prediction, the one its measurement is compared with."""
    if step.kind == Step.Kind.LAB and has_guessed(learner, step):
        return "Your prediction is already committed and kept for good: run the experiment to compare."
    if step.kind == Step.Kind.PREDICT and Reveal.objects.filter(learner=learner, step=step).exists():
        return ("The answer is already revealed, so this step takes no more guesses: "
                "your first guess stays as it was.")
    return None
