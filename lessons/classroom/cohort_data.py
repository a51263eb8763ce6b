"""A cohort's predictions, gathered in a fixed number of queries (whatever the number of
learners or steps), and what the dashboard's answer pages compute from them with the plain
modules ``answers``, ``charts`` and ``stats``."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from lessons import predictions
from lessons.classroom import answers, charts, stats
from lessons.classroom.models import Cohort
from lessons.models import Guess, Step, StepOpened
from lessons.review.models import Rating, ReviewLog


@dataclass
class FirstGuess:
    answer: object
    correct: bool | None
    at: datetime
    attempts: int = 1


@dataclass
class CohortRecords:
    cohort: Cohort
    learners: list  # users, by username
    steps: list[Step]  # the live steps, in course order
    first: dict[tuple[int, int], FirstGuess] = field(default_factory=dict)  # (learner id, step id)
    opened: dict[tuple[int, int], datetime] = field(default_factory=dict)

    def of_kind(self, *kinds: str) -> list[Step]:
        return [step for step in self.steps if step.kind in kinds]

    def firsts(self, step: Step) -> list[FirstGuess]:
        return [self.first[learner.id, step.id] for learner in self.learners if (learner.id, step.id) in self.first]

    def seconds_to_first_guess(self, learner_id: int, step_id: int) -> float | None:
        """From first opening the step to the first guess; None when either is missing (a step
        opened before opening times were kept) or the order is impossible."""
        first, opened = self.first.get((learner_id, step_id)), self.opened.get((learner_id, step_id))
        if first is None or opened is None or first.at < opened:
            return None
        return (first.at - opened).total_seconds()


def live_steps() -> list[Step]:
    return list(Step.objects.filter(retired=False).select_related("lesson").order_by("lesson__order", "order"))


def cohort_records(cohort: Cohort, kinds: tuple[str, ...] = (Step.Kind.PREDICT, Step.Kind.LAB),
                   opened: bool = False) -> CohortRecords:
    """The class's guesses on steps of these ``kinds`` and, when asked, when each learner first
    opened each of those steps: three or four queries (learners, steps, guesses, openings)."""
    members = cohort.learners()
    records = CohortRecords(cohort, list(members), live_steps())
    guesses = (Guess.objects.filter(learner__in=members.values("id"), step__retired=False, step__kind__in=kinds)
               .order_by("attempt").values_list("learner_id", "step_id", "answer", "correct", "created_at"))
    for learner_id, step_id, answer, correct, at in guesses:
        key = (learner_id, step_id)
        if key in records.first:
            records.first[key].attempts += 1
        else:
            records.first[key] = FirstGuess(answer, correct, at)
    if opened:
        openings = (StepOpened.objects.filter(learner__in=members.values("id"), step__kind__in=kinds)
                    .values_list("learner_id", "step_id", "created_at"))
        records.opened = {(learner_id, step_id): at for learner_id, step_id, at in openings}
    return records


def judged_steps(records: CohortRecords) -> list[Step]:
    """The predict steps: each has a right answer (a lab guess waits for a measurement)."""
    return records.of_kind(Step.Kind.PREDICT)


def queue_recalls(records: CohortRecords, steps: list[Step]) -> dict[int, list[bool]]:
    """step id -> for each of the class's review-queue reviews of it, whether it was recalled
    (rated anything but Again): one query."""
    reviews = (ReviewLog.objects.filter(learner__in=[learner.id for learner in records.learners],
                                        step__in=[step.id for step in steps], source=ReviewLog.Source.QUEUE)
               .values_list("step_id", "rating"))
    recalled = defaultdict(list)
    for step_id, rating in reviews:
        recalled[step_id].append(rating != Rating.AGAIN)
    return recalled


def item_table(records: CohortRecords) -> list[tuple[Step, stats.ItemStats, int]]:
    """(step, its statistics, all guesses including later attempts) per predict step."""
    steps = judged_steps(records)
    ids = {step.id for step in steps}
    scores = defaultdict(dict)
    seconds = defaultdict(list)
    guesses = defaultdict(int)
    for (learner_id, step_id), first in records.first.items():
        if step_id in ids and first.correct is not None:
            scores[learner_id][step_id] = int(first.correct)
            guesses[step_id] += first.attempts
            took = records.seconds_to_first_guess(learner_id, step_id)
            if took is not None:
                seconds[step_id].append(took)
    rows = stats.item_statistics(scores, [step.id for step in steps], seconds, queue_recalls(records, steps))
    return [(step, row, guesses[step.id]) for step, row in zip(steps, rows)]


def recall_table(records: CohortRecords) -> list[tuple[Step, int, float | None]]:
    """(step, queue reviews, retention) per recall prompt: review-queue items with no first guess."""
    steps = records.of_kind(Step.Kind.RECALL)
    recalled = queue_recalls(records, steps)
    return [(step, len(recalled[step.id]), stats.retention(recalled[step.id])) for step in steps]


@dataclass
class StepAnswers:
    step: Step
    answered: int
    right: int
    answer_text: str
    choices: list[tuple[answers.ChoiceCount, str]] = field(default_factory=list)  # with each choice's text
    positions: list[tuple[answers.Position, str]] = field(default_factory=list)
    histogram: charts.Histogram | None = None
    unit: str = ""
    wrong: answers.WrongAnswer | None = None
    wrong_text: str = ""

    @property
    def modelled(self) -> bool:
        """A numeric answer is the cost model's figure; a choice's is the lesson's key."""
        return self.step.config["kind"] == "numeric"


def step_answers(records: CohortRecords, step: Step) -> StepAnswers:
    firsts = records.firsts(step)
    kind, expected = step.config["kind"], predictions.right_answer(step)
    found = StepAnswers(step, len(firsts), sum(1 for f in firsts if f.correct), predictions.answer_text(step),
                        unit=predictions.unit_label(step))
    text = {option["key"]: option["text"] for option in predictions.options(step)}
    given = [f.answer for f in firsts]
    if kind in ("single", "multiple"):
        found.choices = [(c, text[c.key]) for c in answers.choice_counts(given, list(text), expected)]
    elif kind == "ordering":
        found.positions = [(p, text[p.key]) for p in answers.position_agreement(given, expected)]
    else:
        found.histogram = charts.log_histogram(given, expected, predictions.right_range(step))
    found.wrong = answers.most_common_wrong(((f.answer, f.correct) for f in firsts), kind)
    if found.wrong:
        found.wrong_text = predictions.describe(step, found.wrong.answer)
    return found


def all_step_answers(records: CohortRecords) -> list[StepAnswers]:
    return [step_answers(records, step) for step in judged_steps(records)]


def misconception_map(step_answers_list: list[StepAnswers]) -> list[StepAnswers]:
    """The steps with a wrong answer, by how many learners hold their most common one (then in
    course order)."""
    held = [found for found in step_answers_list if found.wrong]
    return sorted(held, key=lambda found: -found.wrong.count)
