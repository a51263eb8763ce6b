"""Personal FSRS parameters: the fit view, its Celery task (called directly), what changed."""
import random
from datetime import datetime, timedelta, timezone

import pytest
from django.utils import timezone as django_timezone

from lessons.models import Step
from lessons.review import fitting, scheduling, services
from lessons.review.models import ParameterFit, ReviewLog, ReviewSettings
from lessons.review.tasks import fit_parameters
from tests.review_support import step

START = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)


def simulate_reviews(learner) -> int:
    """A learner who reviews every item on its due day, recalling most, just often enough for
    the optimizer: their log, built with the scheduler itself. Returns how many reviews the
    optimizer can learn from."""
    rng, chosen = random.Random(7), scheduling.scheduler(fuzz=False)
    items = list(Step.objects.filter(kind__in=("recall", "predict")))
    reviews_per_item = -(-scheduling.MIN_REVIEWS_TO_FIT // len(items)) + 1  # the first review does not count
    logs = []
    for item in items:
        state, moment = None, START + timedelta(minutes=item.pk)
        for _ in range(reviews_per_item):
            rating = 1 if rng.random() < 0.15 else 3
            state, due = scheduling.review(chosen, state, item.pk, rating, moment)
            logs.append(ReviewLog(learner=learner, step=item, reviewed_at=moment, rating=rating, source="queue",
                                  due_after=due))
            moment = max(due, moment + timedelta(days=1))
    ReviewLog.objects.bulk_create(logs)
    return fitting.eligible_count(learner)


def test_it_refuses_to_fit_before_the_optimizers_minimum(logged_in):
    response = logged_in.post("/review/settings/fit/", follow=True)
    assert "The optimizer needs 512 reviews" in response.content.decode() and "you have 0" in response.content.decode()
    assert not ParameterFit.objects.exists()


def test_the_task_fits_the_learners_parameters_and_the_page_shows_what_changed(
        logged_in, learner, django_capture_on_commit_callbacks):
    assert simulate_reviews(learner) >= scheduling.MIN_REVIEWS_TO_FIT
    with django_capture_on_commit_callbacks() as sent:
        response = logged_in.post("/review/settings/fit/", follow=True)
    assert "Fitting your parameters" in response.content.decode() and len(sent) == 1
    fit = ParameterFit.objects.get()
    assert fit.status == "queued" and fit.before == scheduling.DEFAULTS
    fit_parameters(fit.pk)  # what the worker runs
    fit.refresh_from_db()
    assert fit.status == "done" and fit.reviews_used == ReviewLog.objects.count()
    assert len(fit.after) == len(scheduling.DEFAULTS) and fit.after != scheduling.DEFAULTS
    assert ReviewSettings.objects.get(learner=learner).parameters == fit.after
    page = logged_in.get("/review/settings/").content.decode()
    assert "What changed" in page and "your fitted parameters" in page
    assert "Go back to the default parameters" in page


def test_a_fit_no_worker_takes_ends_failed_with_the_likely_reason(logged_in, learner):
    ParameterFit.objects.create(learner=learner, requested_at=django_timezone.now() - timedelta(minutes=11),
                                before=scheduling.DEFAULTS)
    page = logged_in.get("/review/settings/").content.decode()
    assert "No lab worker took this fit within 10 minutes" in page
    assert ParameterFit.objects.get().status == "failed"


def test_a_fit_that_cannot_be_queued_says_why(learner, course, django_capture_on_commit_callbacks, monkeypatch):
    from kombu.exceptions import OperationalError

    from lessons.review.tasks import fit_parameters

    def broker_down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:1. Connection refused.")

    monkeypatch.setattr(fitting, "eligible_count", lambda learner: scheduling.MIN_REVIEWS_TO_FIT)
    # The broker is down whatever this process was started with (a live lab may have set REDIS_URL).
    monkeypatch.setattr(fit_parameters, "apply_async", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        fit, _ = fitting.request_fit(learner, django_timezone.now())
    fit.refresh_from_db()
    assert fit.status == "failed" and "Could not queue the fit" in fit.message and "Connection refused" in fit.message


def test_it_asks_for_a_fit_each_time_the_log_grows_by_the_minimum(learner, course, monkeypatch):
    monkeypatch.setattr(scheduling, "MIN_REVIEWS_TO_FIT", 2)
    item, moment = step("recall-col-row"), START
    for _ in range(3):
        services.record_review(learner, item, 3, moment, source="queue", shown_at=moment)
        moment += timedelta(days=3)
    assert not ParameterFit.objects.exists()  # at 2 reviews only 1 came a day after the previous
    services.record_review(learner, item, 3, moment, source="queue", shown_at=moment)
    assert ParameterFit.objects.get().status in ("queued", "failed")


@pytest.mark.parametrize("status", ["queued", "running"])
def test_it_does_not_queue_a_second_fit_while_one_is_under_way(learner, course, monkeypatch, status):
    monkeypatch.setattr(fitting, "eligible_count", lambda learner: scheduling.MIN_REVIEWS_TO_FIT)
    ParameterFit.objects.create(learner=learner, requested_at=django_timezone.now(), before=[], status=status)
    fit, refusal = fitting.request_fit(learner, django_timezone.now())
    assert fit is None and "already under way" in refusal
