"""Celery tasks of the review queue: only call the core and let it save."""
from celery import shared_task
from django.utils import timezone

from lessons.review.fitting import run_fit


@shared_task(name="review.fit_parameters")
def fit_parameters(fit_id: int) -> None:
    """Fit a learner's FSRS parameters (the optimizer uses torch: seconds for a few thousand
    reviews). Sent to the default queue, which every lab worker also consumes."""
    run_fit(fit_id, timezone.now())
