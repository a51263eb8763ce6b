"""Personal FSRS parameters: asked for by the learner or each time their log grows by another
``MIN_REVIEWS_TO_FIT`` reviews, fitted by the package's optimizer in a Celery task
(lessons.review.tasks), applied to their schedule, and shown as what changed.

A fit that cannot be queued, that no worker takes within ParameterFit.WAIT_LIMIT, or that the
optimizer fails on ends failed with the reason; the parameters in use stay as they were.
"""
from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction

from lessons.review import scheduling
from lessons.review.models import ParameterFit, ReviewLog, ReviewSettings

log = logging.getLogger(__name__)


def history(learner) -> list[tuple[int, int, datetime, int | None]]:
    """The learner's reviews as the optimizer reads them: (card id, rating, when, duration)."""
    return list(ReviewLog.objects.filter(learner=learner).order_by("reviewed_at", "id").values_list(
        "step_id", "rating", "reviewed_at", "duration_ms"))


def eligible_count(learner) -> int:
    return scheduling.eligible_reviews([(card, moment) for card, _, moment, _ in history(learner)])


def latest_fit(learner, now: datetime) -> ParameterFit | None:
    """The learner's latest fit; a queued one no worker took in time is failed here, saying so."""
    fit = ParameterFit.objects.filter(learner=learner).last()
    if fit and fit.status == ParameterFit.Status.QUEUED and now - fit.requested_at > ParameterFit.WAIT_LIMIT:
        message = (f"No lab worker took this fit within {int(ParameterFit.WAIT_LIMIT.total_seconds() // 60)} "
                   "minutes: is `python3 lab.py run` running? Ask again once it is.")
        if ParameterFit.objects.filter(pk=fit.pk, status=ParameterFit.Status.QUEUED).update(
                status=ParameterFit.Status.FAILED, finished_at=now, message=message):
            fit.refresh_from_db()
    return fit


def request_fit(learner, now: datetime) -> tuple[ParameterFit | None, str]:
    """Queue a fit: (the fit, "") or (None, why not)."""
    eligible = eligible_count(learner)
    if eligible < scheduling.MIN_REVIEWS_TO_FIT:
        return None, (f"The optimizer needs {scheduling.MIN_REVIEWS_TO_FIT} reviews that came a day or more "
                      f"after the item's previous review; you have {eligible}.")
    current = latest_fit(learner, now)
    if current and current.in_flight():
        return None, "A fit of your parameters is already under way."
    chosen = ReviewSettings.objects.filter(learner=learner).first()
    fit = ParameterFit.objects.create(learner=learner, requested_at=now,
                                      before=(chosen.parameters if chosen else None) or scheduling.DEFAULTS)
    transaction.on_commit(lambda: _send(fit))
    return fit, ""


def _send(fit: ParameterFit) -> None:
    from lessons.review.tasks import fit_parameters

    try:
        fit_parameters.apply_async(args=[fit.pk])
    except Exception as exc:  # a broker that is down or not configured: say so on the fit, not a 500
        log.exception("could not queue parameter fit %s", fit.pk)
        ParameterFit.objects.filter(pk=fit.pk, status=ParameterFit.Status.QUEUED).update(
            status=ParameterFit.Status.FAILED, message=f"Could not queue the fit: {exc}")


def maybe_request_fit(learner, now: datetime) -> None:
    """Each time the learner's log reaches another MIN_REVIEWS_TO_FIT reviews, fit again."""
    total = ReviewLog.objects.filter(learner=learner).count()
    if total and total % scheduling.MIN_REVIEWS_TO_FIT == 0:
        request_fit(learner, now)


def run_fit(fit_id: int, now: datetime) -> ParameterFit | None:
    """The task's body: claim the fit, run the optimizer on the learner's whole log, apply the
    result. None when the fit is no longer queued (failed meanwhile, or taken already)."""
    if not ParameterFit.objects.filter(pk=fit_id, status=ParameterFit.Status.QUEUED).update(
            status=ParameterFit.Status.RUNNING):
        return None
    fit = ParameterFit.objects.select_related("learner").get(pk=fit_id)
    rows = history(fit.learner)
    try:
        after = scheduling.fit(rows)
        scheduling.scheduler(after)  # the package validates the bounds of what it returned
    except Exception as exc:  # the optimizer's own errors are many; any of them ends the fit
        log.exception("parameter fit %s failed", fit_id)
        fit.status, fit.message = ParameterFit.Status.FAILED, f"The optimizer failed: {exc}"
    else:
        fit.status, fit.after, fit.reviews_used = ParameterFit.Status.DONE, after, len(rows)
        ReviewSettings.objects.update_or_create(learner=fit.learner, defaults={"parameters": after})
    fit.finished_at = now
    fit.save()
    return fit


def what_changed(fit: ParameterFit, desired_retention: float, now: datetime) -> list[dict]:
    """Intervals a new card gets from each rating, with the old and the fitted parameters."""
    old = scheduling.intervals(scheduling.scheduler(fit.before, desired_retention), now)
    new = scheduling.intervals(scheduling.scheduler(fit.after, desired_retention), now)
    return [{"case": case, "before": old[case], "after": new[case]} for case in old]
