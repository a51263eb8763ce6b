"""GET /review/history/: reviews, ratings, FSRS's retention estimate per item, the 30-day chart."""
from datetime import timedelta

from django.utils import timezone

from lessons.models import Step
from lessons.review import history, services
from lessons.review.models import ReviewLog
from tests.review_support import step


def test_it_lists_each_review_and_each_items_retrievability(logged_in, learner):
    two_days_ago = timezone.now() - timedelta(days=2)
    services.rate_from_lesson(learner, step("recall-col-row"), "good", two_days_ago)
    services.record_review(learner, step("gate-columns"), 1, two_days_ago, source=ReviewLog.Source.QUEUE,
                           shown_at=two_days_ago - timedelta(seconds=12), seed=5,
                           variant={"model": "Llama-3.1-8B", "tp": 8}, answer=1000, correct=False)
    page = logged_in.get("/review/history/").content.decode()
    assert "Recall now" in page and "%" in page
    assert "self-rated" in page and "wrong" in page and "model=Llama-3.1-8B, tp=8" in page and "12 s" in page
    row = next(r for r in history.item_rows(learner, timezone.now()) if r["step"].key == "recall-col-row")
    assert row["state"] == "Review" and 0.5 < row["retrievability"] < 1


def test_it_charts_what_comes_due_over_the_next_thirty_days(logged_in, learner):
    now = timezone.now()
    services.rate_from_lesson(learner, step("recall-col-row"), "again", now)
    services.rate_from_lesson(learner, step("recall-heads"), "easy", now)
    series = history.due_by_day(learner, now)
    assert len(series) == 30 and series[0][1] == 1 and sum(count for _, count in series) == 2
    page = logged_in.get("/review/history/").content.decode()
    assert '<svg class="due-chart"' in page and "2 in all" in page


def test_a_retired_items_log_stays_in_the_history(logged_in, learner):
    services.rate_from_lesson(learner, step("recall-col-row"), "again", timezone.now())
    Step.objects.filter(key="recall-col-row").update(retired=True)
    page = logged_in.get("/review/history/").content.decode()
    assert "retired from its lesson" in page and "self-rated" in page
