"""The progress matrix: learners × lessons, each cell done / in progress (at step n of m) / not
started, with each learner's last activity and whether they look stuck. Steps count as done by
the lesson engine's own rule (lessons.state.done_step_ids), computed for the whole class at once."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db.models import Max
from django.utils import timezone

from lessons.classroom.models import Cohort
from lessons.models import Guess, Lesson, Progress, RecallRating, Reveal, Step, TeachBack
from lessons.state import done_step_ids

SORTS = {"name": "name", "progress": "most steps done first", "activity": "longest without activity first"}
STUCK_AFTER_DAYS = 7


@dataclass
class Cell:
    lesson: Lesson
    status: str  # "done", "in progress", "not started"
    done: int
    total: int
    position: int | None  # the step the learner is at, 1 first
    last_activity: datetime | None

    @property
    def css(self) -> str:
        return self.status.replace(" ", "-")

    @property
    def text(self) -> str:
        """The cell as the matrix shows it (made here: 1,200 cells are slow to format in a template)."""
        if self.status == "in progress":
            return f"step {self.position or '?'} of {self.total}"
        return self.status

    @property
    def done_text(self) -> str:
        return f"{self.done} of {self.total} steps done"


@dataclass
class Row:
    learner: object
    joined_at: datetime
    cells: list[Cell] = field(default_factory=list)
    last_activity: datetime | None = None
    stuck: bool = False

    @property
    def done(self) -> int:
        return sum(cell.done for cell in self.cells)


def last_activity(learners) -> dict[int, datetime]:
    """learner id -> the time of their latest step opened, guess, reveal, rating or teach-back."""
    latest: dict[int, datetime] = {}
    sources = [(Progress, "updated_at"), (Guess, "created_at"), (Reveal, "created_at"),
               (RecallRating, "created_at"), (TeachBack, "updated_at")]
    for model, stamp in sources:
        rows = model.objects.filter(learner__in=learners).values("learner_id").annotate(at=Max(stamp))
        for learner_id, at in rows.values_list("learner_id", "at"):
            latest[learner_id] = max(latest.get(learner_id, at), at)
    return latest


def progress_matrix(cohort: Cohort, steps: list[Step], sort: str = "name", stuck_after_days: int = STUCK_AFTER_DAYS,
                    now: datetime | None = None) -> tuple[list[Lesson], list[Row]]:
    """(lessons, a row per learner). ``steps``: the live steps, in course order."""
    now = now or timezone.now()
    members = cohort.memberships.select_related("learner")
    learner_ids = cohort.learners().values("id")
    lessons = list(Lesson.objects.order_by("order"))
    live = defaultdict(list)
    for step in steps:
        live[step.lesson_id].append(step)
    done = done_step_ids(learner_ids, steps)
    progress = {(learner_id, lesson_id): (step_id, finished, updated) for learner_id, lesson_id, step_id, finished, updated
                in Progress.objects.filter(learner__in=learner_ids).values_list(
                    "learner_id", "lesson_id", "current_step_id", "finished_at", "updated_at")}
    latest = last_activity(learner_ids)
    stuck_before = now - timedelta(days=stuck_after_days)
    rows = []
    for member in members:
        learner = member.learner
        row = Row(learner, member.joined_at, last_activity=latest.get(learner.id))
        for lesson in lessons:
            row.cells.append(_cell(lesson, live[lesson.id], done.get(learner.id, set()),
                                   progress.get((learner.id, lesson.id))))
        unfinished = any(cell.status != "done" for cell in row.cells)
        row.stuck = unfinished and max(row.last_activity or member.joined_at, member.joined_at) < stuck_before
        rows.append(row)
    return lessons, sort_rows(rows, sort)


def _cell(lesson: Lesson, steps: list[Step], done: set[int], progress: tuple | None) -> Cell:
    """``progress``: (current step id, finished at, updated at) of the learner's Progress, if any."""
    count = sum(1 for step in steps if step.id in done)
    if progress is None:
        return Cell(lesson, "not started", count, len(steps), None, None)
    current, finished, updated = progress
    position = next((index + 1 for index, step in enumerate(steps) if step.id == current), None)
    return Cell(lesson, "done" if finished else "in progress", count, len(steps), position, updated)


def sort_rows(rows: list[Row], sort: str) -> list[Row]:
    if sort == "progress":
        return sorted(rows, key=lambda row: (-row.done, row.learner.username))
    if sort == "activity":
        oldest = datetime.min.replace(tzinfo=UTC)
        return sorted(rows, key=lambda row: (row.last_activity or oldest, row.learner.username))
    return sorted(rows, key=lambda row: row.learner.username)
