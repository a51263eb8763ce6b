"""What the class answered in a round, without names: counts, bars for choices, a log-axis
histogram for numbers (lessons.classroom.charts), the median and spread, and the
first→second vote transitions of peer instruction.

The fragment is rendered here once per change and broadcast: every console and projector
swaps in the same HTML.
"""
from __future__ import annotations

import statistics
from collections import Counter

from django.template.loader import render_to_string

from lessons import predictions
from lessons.classroom.charts import log_histogram
from lessons.liveclass.models import Round
from lessons.models import Step



def is_numeric(step: Step) -> bool:
    return step.kind == Step.Kind.LAB or step.config.get("kind") == "numeric"


def answer_number(step: Step) -> float | None:
    return predictions.answer_value(step) if step.kind == Step.Kind.PREDICT and is_numeric(step) else None


def choice_bars(step: Step, answers: list) -> list[dict]:
    """One bar per choice (single, multiple) or per ordering given; widths as % of the largest."""
    if step.config.get("kind") == "ordering":
        tally = Counter(tuple(a) for a in answers)
        rows = [(predictions.describe(step, list(key)), count) for key, count in tally.most_common(6)]
    else:
        tally = Counter(k for a in answers for k in (a if isinstance(a, list) else [a]))
        rows = [(option["text"], tally[option["key"]]) for option in predictions.options(step)]
    top = max([count for _, count in rows] + [1])
    return [{"text": text, "count": count, "percent": round(100 * count / top)} for text, count in rows]


def spread(values: list[float]) -> dict | None:
    """Median and the middle half (25th to 75th percentile) of numeric guesses."""
    if not values:
        return None
    ordered = sorted(values)
    if len(ordered) < 4:
        return {"median": statistics.median(ordered), "low": ordered[0], "high": ordered[-1], "what": "range"}
    q1, _, q3 = statistics.quantiles(ordered, n=4)
    return {"median": statistics.median(ordered), "low": q1, "high": q3, "what": "middle half"}


def _bucket(step: Step, vote) -> str:
    """How a vote is grouped in the transition table: the choice for a single choice, else
    right or not."""
    if step.config.get("kind") == "single":
        return predictions.describe(step, vote.answer)
    return "right" if vote.correct else "not right"


def transitions(round_: Round, votes: list) -> dict | None:
    """Rows: first vote; columns: second vote; cells: learners who voted both."""
    firsts = {v.learner_id: v for v in votes if v.number == 1}
    seconds = {v.learner_id: v for v in votes if v.number == 2}
    both = firsts.keys() & seconds.keys()
    if round_.second_vote_at is None:
        return None
    step = round_.step
    labels = ([predictions.describe(step, o["key"]) for o in predictions.options(step)]
              if step.config.get("kind") == "single" else ["right", "not right"])
    cells = Counter((_bucket(step, firsts[i]), _bucket(step, seconds[i])) for i in both)
    return {"labels": labels, "rows": [(a, [cells[(a, b)] for b in labels]) for a in labels], "count": len(both),
            "moved": sum(n for (a, b), n in cells.items() if a != b)}


def tally_context(round_: Round | None, learner_count: int) -> dict:
    if round_ is None:
        return {"round": None}
    step = round_.step
    votes = list(round_.votes.all())
    number = round_.vote_number or (2 if round_.second_vote_at else 1)
    shown = [v.answer for v in votes if v.number == number]
    revealed = round_.phase == Round.Phase.REVEALED
    context = {"round": round_, "step": step, "count": len(shown), "learner_count": learner_count,
               "number": number, "revealed": revealed, "transitions": transitions(round_, votes)}
    if is_numeric(step):
        answer = answer_number(step) if revealed else None
        context["histogram"] = log_histogram([float(a) for a in shown], answer or 0.0,
                                             predictions.right_range(step) if answer is not None else None)
        context["spread"] = spread([float(a) for a in shown])
        context["unit_label"] = predictions.unit_label(step)
    else:
        context["bars"] = choice_bars(step, shown)
    if revealed and step.kind == Step.Kind.PREDICT:
        context["answer_text"] = predictions.answer_text(step)
    return context


def render_tally(round_: Round | None, learner_count: int) -> str:
    return render_to_string("liveclass/_tally.html", tally_context(round_, learner_count))
