"""Teach-backs for the instructor (a step's explanations beside the model answer and each
learner's checklist ticks; comments; the exemplary mark) and for the learner (the comments on
theirs, their consent, and the examples their classes were shown)."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import Count

from lessons.content_format import render
from lessons.classroom.models import Cohort, Exemplary, ShareConsent, TeachBackComment
from lessons.models import Step, TeachBack


class FeedbackRefused(ValueError):
    pass


@dataclass(frozen=True)
class Tick:
    text: str  # the checklist item as written
    html: str  # rendered once per step, not once per learner: Markdown is slow
    ticked: bool


@dataclass
class TeachBackCard:
    record: TeachBack
    ticks: list[Tick]  # the step's checklist, in order
    consent: bool
    exemplary: bool
    comments: list[TeachBackComment] = field(default_factory=list)

    @property
    def ticked(self) -> int:
        return sum(1 for tick in self.ticks if tick.ticked)


def counts_per_step(cohort: Cohort) -> dict[int, int]:
    """step id -> how many of the cohort's learners wrote a teach-back for it."""
    rows = (TeachBack.objects.filter(learner__in=cohort.learners().values("id")).values("step_id")
            .annotate(n=Count("id")).values_list("step_id", "n"))
    return dict(rows)


def cards(cohort: Cohort, steps: list[Step], only: TeachBack | None = None) -> list[TeachBackCard]:
    """The cohort's teach-backs of ``steps`` by step, then learner name (just ``only`` when
    given): four queries however many learners and steps."""
    by_id = {step.id: step for step in steps}
    order = {step.id: index for index, step in enumerate(steps)}
    records = TeachBack.objects.filter(step__in=list(by_id), learner__in=cohort.learners().values("id"))
    if only is not None:
        records = records.filter(pk=only.pk)
    records = sorted(records.select_related("learner"),
                     key=lambda r: (order[r.step_id], r.learner.username))
    ids = [record.id for record in records]
    consent = set(ShareConsent.objects.filter(teachback__in=ids).values_list("teachback_id", flat=True))
    marked = set(Exemplary.objects.filter(cohort=cohort, teachback__in=ids).values_list("teachback_id", flat=True))
    comments = defaultdict(list)
    for comment in TeachBackComment.objects.filter(cohort=cohort, teachback__in=ids).select_related("author"):
        comments[comment.teachback_id].append(comment)
    rendered = {step.id: [(item, render(item, inline=True)) for item in step.config.get("checklist", [])]
                for step in steps}
    found = []
    for record in records:
        record.step = by_id[record.step_id]
        ticks = [Tick(text, html, index in record.checked) for index, (text, html) in enumerate(rendered[record.step_id])]
        found.append(TeachBackCard(record, ticks, record.id in consent, record.id in marked, comments[record.id]))
    return found


def cohort_teachback(cohort: Cohort, teachback_id: int) -> TeachBack | None:
    """A teach-back by one of the cohort's learners, or None."""
    return (TeachBack.objects.filter(pk=teachback_id, learner__in=cohort.learners().values("id"))
            .select_related("step__lesson", "learner").first())


def set_exemplary(cohort: Cohort, record: TeachBack, instructor, exemplary: bool) -> None:
    if not exemplary:
        Exemplary.objects.filter(cohort=cohort, teachback=record).delete()
        return
    if not ShareConsent.objects.filter(teachback=record).exists():
        raise FeedbackRefused(f"{record.learner} has not agreed to share this teach-back with the class, "
                              "so it cannot be shown as an example. A comment reaches them privately.")
    Exemplary.objects.get_or_create(cohort=cohort, teachback=record, defaults={"marked_by": instructor})


def add_comment(cohort: Cohort, record: TeachBack, instructor, text: str) -> TeachBackComment:
    text = text.strip()
    if not text:
        raise FeedbackRefused("Write the comment first.")
    if len(text) > TeachBackComment.MAX_LENGTH:
        raise FeedbackRefused(f"Keep a comment under {TeachBackComment.MAX_LENGTH} characters "
                              f"(this one has {len(text)}).")
    return TeachBackComment.objects.create(cohort=cohort, teachback=record, author=instructor, text=text)


def learner_extras(learner, step: Step, record: TeachBack | None) -> dict:
    """What a learner's own teach-back step adds once they wrote theirs: the comments on it,
    whether they agreed to share it, and the examples shown to their classes (never before
    they wrote their own, and only with each author's consent)."""
    if record is None:
        return {}
    marks = (Exemplary.objects.filter(cohort__memberships__learner=learner, teachback__step=step,
                                      teachback__share_consent__isnull=False)
             .select_related("teachback").order_by("marked_at"))
    examples = list({mark.teachback_id: mark.teachback for mark in marks}.values())
    return {"comments": list(TeachBackComment.objects.filter(teachback=record).select_related("author")),
            "shared": ShareConsent.objects.filter(teachback=record).exists(), "examples": examples}


def set_consent(record: TeachBack, shared: bool) -> None:
    if shared:
        ShareConsent.objects.get_or_create(teachback=record)
    else:
        ShareConsent.objects.filter(teachback=record).delete()
