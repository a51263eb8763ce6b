"""The review queue's services: what is due, what comes next, and recording a review.

Every function takes ``now`` (views pass django.utils.timezone.now(); tests a fixed clock).
What enters the queue: a recall step the learner rated in a lesson (that rating is its first
review), and a prediction once its answer is revealed in a lesson — a new item, introduced by
the queue at most ``daily_new_limit`` a day (a prediction made before learning the answer is
not a recall, so it is not a review). Due items come first, then new ones, each time preferring
a lesson other than the one just reviewed, so lessons interleave.
"""
from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, OuterRef, Q

from lessons.models import Reveal, Step
from lessons.review import scheduling
from lessons.review.fitting import maybe_request_fit
from lessons.review.models import ReviewCard, ReviewLog, ReviewSettings

LESSON_RATINGS = {"again": 1, "hard": 2, "good": 3, "easy": 4}  # lessons.RecallRating -> fsrs.Rating


def settings_for(learner) -> ReviewSettings:
    """The learner's settings; the defaults (unsaved) until they change one."""
    return ReviewSettings.objects.filter(learner=learner).first() or ReviewSettings(learner=learner)


def scheduler_for(learner):
    chosen = settings_for(learner)
    return scheduling.scheduler(chosen.parameters, chosen.desired_retention)


def live_cards(learner):
    """Cards in the queue: not suspended, on a step still in the course. due_count says the same
    in SQL; tests/test_review_scheduling.py checks it against both rules."""
    return ReviewCard.objects.filter(learner=learner, suspended=False, step__retired=False)


def due_count(learner, now: datetime) -> int:
    """Items due today (the live cards due before tomorrow), for the navigation bar of every
    page: one query, written as SQL because the ORM took 0.32 ms to build what the database
    answers in 0.02 (see lessons.pagequeries)."""
    tomorrow = connection.ops.adapt_datetimefield_value(scheduling.day_bounds(now)[1])
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM review_reviewcard card JOIN lessons_step step ON step.id = card.step_id "
                       "WHERE card.learner_id = %s AND NOT card.suspended AND NOT step.retired AND card.due < %s",
                       [learner.pk, tomorrow])
        return cursor.fetchone()[0]


def new_steps(learner):
    """Revealed predictions not yet reviewed in the queue and not suspended, in course order."""
    seen = ReviewCard.objects.filter(learner=learner, step=OuterRef("pk")).filter(
        Q(suspended=True) | Q(due__isnull=False))
    return (Step.objects.filter(retired=False, kind=Step.Kind.PREDICT)
            .filter(Exists(Reveal.objects.filter(learner=learner, step=OuterRef("pk"))))
            .exclude(Exists(seen)).select_related("lesson").order_by("lesson__order", "order"))


def new_left_today(learner, now: datetime) -> int:
    start, _ = scheduling.day_bounds(now)
    introduced = ReviewCard.objects.filter(learner=learner, introduced_at__gte=start).count()
    return max(settings_for(learner).daily_new_limit - introduced, 0)


def _last_lesson_id(learner) -> int | None:
    return ReviewLog.objects.filter(learner=learner).order_by("-reviewed_at", "-id").values_list(
        "step__lesson_id", flat=True).first()


def _interleaved_first(steps: list[Step], last_lesson_id: int | None) -> Step | None:
    return next((s for s in steps if s.lesson_id != last_lesson_id), steps[0] if steps else None)


def next_step(learner, now: datetime) -> Step | None:
    """The item to ask now: the most overdue due item, else the first new one the daily limit
    allows — from a lesson other than the last reviewed one where there is a choice."""
    last = _last_lesson_id(learner)
    due = [card.step for card in live_cards(learner).filter(due__lt=scheduling.day_bounds(now)[1])
           .select_related("step__lesson").order_by("due", "id")]
    if due:
        return _interleaved_first(due, last)
    if new_left_today(learner, now) <= 0:
        return None
    return _interleaved_first(list(new_steps(learner)[:50]), last)


def previous_seed(learner, step: Step) -> int | None:
    return ReviewLog.objects.filter(learner=learner, step=step).order_by("-reviewed_at", "-id").values_list(
        "seed", flat=True).first()


def record_review(learner, step: Step, rating: int, now: datetime, *, source: str, shown_at: datetime | None = None,
                  seed: int | None = None, variant: dict | None = None, answer=None,
                  correct: bool | None = None) -> tuple[ReviewLog, bool]:
    """Review an item and log it: (the log, True), or — when this showing of the question was
    already answered — (the first answer's log, False), which stays as it was."""
    if shown_at is not None:
        kept = ReviewLog.objects.filter(learner=learner, step=step, shown_at=shown_at).first()
        if kept:
            return kept, False
    try:
        with transaction.atomic():
            card, _ = ReviewCard.objects.select_for_update().get_or_create(learner=learner, step=step)
            if card.state is None and source == ReviewLog.Source.QUEUE:
                card.introduced_at = now  # a new item: it counts against today's new limit
            duration = int((now - shown_at).total_seconds() * 1000) if shown_at else None
            card.state, card.due = scheduling.review(scheduler_for(learner), card.state, step.pk, rating, now,
                                                     duration)
            card.save()
            log = ReviewLog.objects.create(
                learner=learner, step=step, reviewed_at=now, rating=rating, source=source, shown_at=shown_at,
                duration_ms=duration, seed=seed, variant=variant, answer=answer, correct=correct,
                due_after=card.due)
    except IntegrityError:
        if shown_at is None:
            raise
        # The same showing answered twice at once: the first one stays.
        return ReviewLog.objects.get(learner=learner, step=step, shown_at=shown_at), False
    maybe_request_fit(learner, now)
    return log, True


def rate_from_lesson(learner, step: Step, rating: str, now: datetime) -> ReviewLog:
    """A recall rated in its lesson is a review of that item (its first, the first time)."""
    return record_review(learner, step, LESSON_RATINGS[rating], now, source=ReviewLog.Source.LESSON)[0]


def set_suspended(learner, step: Step, suspended: bool) -> ReviewCard:
    """Suspend or resume an item; its card and log stay."""
    card, _ = ReviewCard.objects.get_or_create(learner=learner, step=step)
    card.suspended = suspended
    card.save(update_fields=["suspended"])
    return card
