"""A cohort's live-class votes per step, for the dashboard's per-step views ("in class").
Kept apart from the learners' own first guesses: a class vote is taken at the instructor's pace."""
from __future__ import annotations

from collections import defaultdict

from lessons.liveclass.models import Vote


def in_class(cohort) -> dict[int, list[dict]]:
    """step id → one entry per vote held (first, then second): how many voted and were right."""
    tallies = defaultdict(lambda: {"voted": 0, "right": 0})
    for step_id, number, correct in Vote.objects.filter(round__session__cohort=cohort).values_list(
            "round__step_id", "number", "correct"):
        tally = tallies[(step_id, number)]
        tally["voted"] += 1
        tally["right"] += bool(correct)
    found = defaultdict(list)
    for (step_id, number), tally in sorted(tallies.items()):
        found[step_id].append({"number": number, **tally})
    return dict(found)
