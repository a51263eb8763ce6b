"""The review queue's scheduling, on a fixed clock: FSRS (the fsrs package) decides every date."""
from datetime import datetime, timedelta, timezone

from lessons.models import Reveal, Step
from lessons.review import scheduling, services
from lessons.review.models import ReviewCard, ReviewLog, ReviewSettings

NOON = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)
QUEUE = ReviewLog.Source.QUEUE


def step(key, slug="what-tp-splits"):
    return Step.objects.get(lesson__slug=slug, key=key)


def test_it_brings_a_card_rated_again_back_today_and_one_rated_good_later(course, learner):
    again = services.rate_from_lesson(learner, step("recall-col-row"), "again", NOON)
    good = services.rate_from_lesson(learner, step("recall-heads"), "good", NOON)
    assert again.due_after == NOON + timedelta(minutes=1)  # the one learning step
    assert good.due_after >= NOON + timedelta(days=1)
    assert services.due_count(learner, NOON) == 1
    assert services.due_count(learner, good.due_after) == 2  # by then the unreviewed Again card is overdue too


def test_it_grows_the_interval_with_each_good_review(course, learner):
    item, now, intervals = step("recall-col-row"), NOON, []
    services.rate_from_lesson(learner, item, "good", now)
    for _ in range(4):
        due = ReviewCard.objects.get(learner=learner, step=item).due
        intervals.append(due - now)
        now = due
        services.record_review(learner, item, 3, now, source=QUEUE)
    assert all(later > earlier for earlier, later in zip(intervals, intervals[1:])), intervals
    assert ReviewLog.objects.filter(learner=learner, step=item).count() == 5


def test_it_stores_the_packages_card_and_reads_it_back(course, learner):
    item = step("recall-col-row")
    services.rate_from_lesson(learner, item, "good", NOON)
    card = ReviewCard.objects.get(learner=learner, step=item)
    assert card.state["card_id"] == item.pk and card.state["state"] == 2  # fsrs State.Review
    assert scheduling.load(card.state, item.pk, NOON).due == card.due
    assert scheduling.retrievability(services.scheduler_for(learner), card.state, NOON) == 1.0
    assert 0.8 < scheduling.retrievability(services.scheduler_for(learner), card.state, card.due) < 0.95


def test_it_schedules_with_the_learners_desired_retention(course, learner, other_learner):
    ReviewSettings.objects.create(learner=other_learner, desired_retention=0.97)
    relaxed = services.rate_from_lesson(learner, step("recall-col-row"), "easy", NOON)
    strict = services.rate_from_lesson(other_learner, step("recall-col-row"), "easy", NOON)
    assert strict.due_after < relaxed.due_after


def test_it_keeps_the_first_answer_of_a_showing(course, learner):
    item, shown = step("what-is-split"), NOON - timedelta(seconds=20)
    first, created = services.record_review(learner, item, 1, NOON, source=QUEUE, shown_at=shown, answer="requests",
                                            correct=False)
    again, created_again = services.record_review(learner, item, 3, NOON + timedelta(seconds=5), source=QUEUE,
                                                  shown_at=shown, answer="weights", correct=True)
    assert created and not created_again and again == first
    assert list(ReviewLog.objects.values_list("answer", "duration_ms")) == [("requests", 20000)]


def test_it_introduces_revealed_predictions_up_to_the_daily_new_limit(course, learner):
    ReviewSettings.objects.create(learner=learner, daily_new_limit=1)
    for key in ("what-is-split", "why-alternate"):
        Reveal.objects.create(learner=learner, step=step(key))
    assert services.due_count(learner, NOON) == 0  # new items are not due reviews
    first = services.next_step(learner, NOON)
    assert first.key == "what-is-split"
    services.record_review(learner, first, 3, NOON, source=QUEUE, shown_at=NOON)
    assert services.new_left_today(learner, NOON) == 0 and services.next_step(learner, NOON) is None
    tomorrow = NOON + timedelta(days=1)
    assert services.next_step(learner, tomorrow).key == "why-alternate"


def test_it_interleaves_lessons(course, learner):
    for key, slug in (("recall-col-row", "what-tp-splits"), ("recall-heads", "what-tp-splits"),
                      ("recall-count", "all-reduce-tax")):
        services.rate_from_lesson(learner, step(key, slug), "again", NOON)
    later = NOON + timedelta(minutes=5)
    services.record_review(learner, step("recall-col-row"), 3, later, source=QUEUE, shown_at=later)
    # recall-heads is due earlier than recall-count, but the queue goes to the other lesson first
    assert services.next_step(learner, later).lesson.slug == "all-reduce-tax"


def test_a_retired_step_leaves_the_queue_and_keeps_its_log(course, learner):
    item = step("recall-col-row")
    services.rate_from_lesson(learner, item, "again", NOON)
    Step.objects.filter(pk=item.pk).update(retired=True)
    assert services.due_count(learner, NOON) == 0 and services.next_step(learner, NOON) is None
    assert ReviewLog.objects.filter(learner=learner, step=item).count() == 1


def test_a_suspended_item_leaves_the_queue_until_resumed(course, learner):
    item = step("recall-col-row")
    services.rate_from_lesson(learner, item, "again", NOON)
    services.set_suspended(learner, item, True)
    assert services.due_count(learner, NOON) == 0
    services.set_suspended(learner, item, False)
    assert services.next_step(learner, NOON) == item


def test_its_fitting_minimum_is_the_optimizers_own():
    from fsrs import optimizer

    assert scheduling.MIN_REVIEWS_TO_FIT == optimizer.mini_batch_size


def test_it_counts_the_reviews_the_optimizer_learns_from():
    day = timedelta(days=1)
    history = [(1, NOON), (1, NOON + timedelta(hours=2)), (2, NOON), (1, NOON + day * 2), (2, NOON + day)]
    assert scheduling.eligible_reviews(history) == 2  # same-day repeats and first reviews do not count


def test_it_counts_as_due_today_only_live_unsuspended_cards_due_before_midnight(course, learner):
    """The navigation bar's count is SQL written by hand: its day boundary, suspension and retired
    steps are checked against cards placed on each side of them."""
    midnight = datetime(2026, 3, 3, tzinfo=timezone.utc)
    due = {"recall-col-row": midnight - timedelta(microseconds=1), "recall-heads": midnight,
           "teach": midnight - timedelta(hours=1)}
    for key, when in due.items():
        ReviewCard.objects.create(learner=learner, step=step(key), due=when)
    assert services.due_count(learner, NOON) == 2  # the card due at midnight is tomorrow's
    services.set_suspended(learner, step("teach"), True)
    assert services.due_count(learner, NOON) == 1
    Step.objects.filter(pk=step("recall-col-row").pk).update(retired=True)
    assert services.due_count(learner, NOON) == 0
