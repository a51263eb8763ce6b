"""What /review/history/ shows: every item with FSRS's retention estimate, the review log, and
the items coming due over the next 30 days as a small server-drawn bar chart (no JavaScript)."""
from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from lessons.review import scheduling
from lessons.review.models import ReviewCard, ReviewLog
from lessons.review.services import scheduler_for

CHART_DAYS = 30
CHART_W, CHART_H, BAR_GAP = 600, 120, 2


def item_rows(learner, now: datetime) -> list[dict]:
    """Every item the learner has a card for, retired ones last, with its state and FSRS's
    estimate of recalling it now (retrievability: modelled, not measured)."""
    chosen = scheduler_for(learner)
    counts = Counter(ReviewLog.objects.filter(learner=learner).values_list("step_id", flat=True))
    cards = ReviewCard.objects.filter(learner=learner).select_related("step__lesson").order_by(
        "step__retired", "step__lesson__order", "step__order")
    return [{"card": card, "step": card.step, "state": scheduling.state_name(card.state),
             "retrievability": scheduling.retrievability(chosen, card.state, now), "reviews": counts[card.step_id],
             "due_today": card.due is not None and card.due < scheduling.day_bounds(now)[1]}
            for card in cards]


def recent_reviews(learner, limit: int = 100) -> list[ReviewLog]:
    return list(ReviewLog.objects.filter(learner=learner).select_related("step__lesson")
                .order_by("-reviewed_at", "-id")[:limit])


def due_by_day(learner, now: datetime, days: int = CHART_DAYS) -> list[tuple[datetime, int]]:
    """(day, items due that day) for today and the days after; overdue items count today."""
    start, _ = scheduling.day_bounds(now)
    end = start + timedelta(days=days)
    dues = ReviewCard.objects.filter(learner=learner, suspended=False, step__retired=False,
                                     due__isnull=False, due__lt=end).values_list("due", flat=True)
    per_day = Counter(max((scheduling.utc(due) - start).days, 0) for due in dues)
    return [(start + timedelta(days=i), per_day[i]) for i in range(days)]


def chart_bars(series: list[tuple[datetime, int]]) -> dict:
    """Bar geometry for the SVG in history.html: one bar per day, scaled to the busiest day."""
    top = max((count for _, count in series), default=0) or 1
    width = CHART_W / len(series)
    bars = [{"x": round(i * width + BAR_GAP / 2, 1), "width": round(width - BAR_GAP, 1),
             "height": round(count / top * (CHART_H - 20), 1), "y": round(CHART_H - count / top * (CHART_H - 20), 1),
             "day": day, "count": count} for i, (day, count) in enumerate(series)]
    return {"bars": bars, "width": CHART_W, "height": CHART_H, "top": top,
            "total": sum(count for _, count in series)}
