"""FSRS through the ``fsrs`` package (py-fsrs, FSRS-6): every interval, stability and
retrievability here comes from its Scheduler; this module only chooses its settings and moves
cards in and out of JSON. No Django.

The choices, and why:

- One learning step of a minute (the package's default is 1 min then 10 min): the lesson
  itself was the learning, so a card rated Again comes back a minute later — the same day —
  while Good and Easy leave learning at once for the interval FSRS derives from their initial
  stability (with the default parameters, about two days for Good). Relearning keeps the
  package's single 10-minute step.
- Fuzzing stays on (the package's default) so cards learned together spread over nearby days;
  ``without_fuzz`` turns it off where intervals are compared, never where cards are scheduled.
- A day is a UTC day: the queue holds every card due before the next UTC midnight, whatever
  its hour, as a deck's reviews are a day's work.

Personal parameters come from the package's Optimizer (torch, imported only when fitting). It
fits only with at least ``MIN_REVIEWS_TO_FIT`` reviews that came a day or more after the same
card's previous review (``fsrs.optimizer.mini_batch_size``; with fewer it returns the defaults).
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from fsrs import Card, Rating, ReviewLog, Scheduler
from fsrs.scheduler import DEFAULT_PARAMETERS

LEARNING_STEPS = (timedelta(minutes=1),)
MIN_REVIEWS_TO_FIT = 512  # fsrs.optimizer.mini_batch_size (a test keeps them equal)
DEFAULTS = list(DEFAULT_PARAMETERS)


def utc(moment: datetime) -> datetime:
    """The package insists on tzinfo == datetime.timezone.utc, which a database driver's zone
    object need not be."""
    return moment.astimezone(timezone.utc)


def day_bounds(now: datetime) -> tuple[datetime, datetime]:
    start = utc(now).replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + timedelta(days=1)


def scheduler(parameters: list[float] | None = None, desired_retention: float = 0.9,
              fuzz: bool = True) -> Scheduler:
    return Scheduler(parameters=parameters or DEFAULTS, desired_retention=desired_retention,
                     learning_steps=LEARNING_STEPS, enable_fuzzing=fuzz)


def without_fuzz(chosen: Scheduler) -> Scheduler:
    return scheduler(list(chosen.parameters), chosen.desired_retention, fuzz=False)


def load(state: dict | None, card_id: int, now: datetime) -> Card:
    """The stored card, or a new one (the package's Learning state, due now)."""
    return Card.from_dict(state) if state else Card(card_id=card_id, due=utc(now))


def review(chosen: Scheduler, state: dict | None, card_id: int, rating: int, now: datetime,
           duration_ms: int | None = None) -> tuple[dict, datetime]:
    """The card after one review: (its new state as the package serialises it, when it is due)."""
    card, _ = chosen.review_card(load(state, card_id, now), Rating(rating), utc(now), duration_ms)
    return card.to_dict(), card.due


def retrievability(chosen: Scheduler, state: dict | None, now: datetime) -> float | None:
    """FSRS's probability of recalling the card now (None before its first review)."""
    if not state:
        return None
    return chosen.get_card_retrievability(Card.from_dict(state), utc(now))


def state_name(state: dict | None) -> str:
    return Card.from_dict(state).state.name if state else "New"


def intervals(chosen: Scheduler, now: datetime) -> dict[str, timedelta]:
    """What a new card's first review schedules for each rating, and what Good then Good on
    its due day schedules: the learner-visible effect of a parameter set (no fuzz)."""
    plain, start = without_fuzz(chosen), utc(now)
    result = {}
    for rating in Rating:
        card, _ = plain.review_card(Card(card_id=1, due=start), rating, start)
        result[f"new card, {rating.name}"] = card.due - start
        if rating == Rating.Good:
            again, _ = plain.review_card(card, Rating.Good, card.due)
            result["then Good again when due"] = again.due - card.due
    return result


def eligible_reviews(history: list[tuple[int, datetime]]) -> int:
    """How many reviews the optimizer learns from: those a day or more after the same card's
    previous review. ``history`` is (card id, reviewed at) in time order."""
    last: dict[int, datetime] = {}
    count = 0
    for card_id, moment in history:
        if card_id in last and (moment - last[card_id]).days > 0:
            count += 1
        last[card_id] = moment
    return count


def fit(history: list[tuple[int, int, datetime, int | None]]) -> list[float]:
    """Personal parameters from (card id, rating, reviewed at, duration ms) rows, by the
    package's Optimizer (torch, so imported here and only here)."""
    from fsrs.optimizer import Optimizer

    logs = [ReviewLog(card_id=card_id, rating=Rating(rating), review_datetime=utc(moment), review_duration=ms)
            for card_id, rating, moment, ms in history]
    return [float(p) for p in Optimizer(logs).compute_optimal_parameters()]

