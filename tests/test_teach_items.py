"""Item statistics per prediction: facility, discrimination, attempts, median time from
opening the step to the first guess, retention in the review queue, and the flags."""
import re
from datetime import timedelta

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from lessons.models import Guess, StepOpened
from lessons.review.models import Rating, ReviewLog
from tests.classroom_helpers import (  # noqa: F401
    cohort, course, fast_password_hashing, guess, join, make_learners, step, synthetic_class, teacher,
)


def row_of(page: str, title: str) -> list[str]:
    row = next(r for r in re.findall(r"<tr class=\"[^\"]*\">.*?</tr>", page, re.S) if title in r)
    return [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td>(.*?)</td>", row, re.S)]


def test_it_shows_facility_attempts_time_and_flags_for_a_step(teacher, cohort, django_user_model):
    learners = make_learners(django_user_model, 4)
    join(cohort, *learners)
    target = step("what-tp-splits", "what-is-split")
    for learner, answers, seconds in zip(learners, [["weights"], ["weights"], ["weights"], ["requests", "weights"]],
                                         [30, 60, 90, 600]):
        opened = StepOpened.objects.create(learner=learner, step=target)
        guess(learner, "what-tp-splits", "what-is-split", *answers)
        Guess.objects.filter(learner=learner, step=target).update(created_at=opened.created_at + timedelta(seconds=seconds))
    page = teacher.get(f"/teach/{cohort.pk}/items/").content.decode()
    # 3 of 4 right first time; 5 guesses; median of 30, 60, 90, 600 s = 75 s; one item only, so no D
    assert row_of(page, "What does each GPU get?")[1:] == ["4", "5", "0.75", "–", "75 s", "0", "–", ""]


def test_it_shows_retention_from_the_classs_review_queue(teacher, cohort, learner, other_learner):
    join(cohort, learner)
    target, recall = step("what-tp-splits", "what-is-split"), step("what-tp-splits", "recall-col-row")
    now = timezone.now()
    reviews = [(learner, target, Rating.GOOD, "queue"), (learner, target, Rating.AGAIN, "queue"),
               (learner, target, Rating.HARD, "queue"), (learner, target, Rating.EASY, "queue"),
               (learner, target, Rating.AGAIN, "lesson"),  # rated in the lesson: not a queue review
               (other_learner, target, Rating.AGAIN, "queue"),  # not in the cohort
               (learner, recall, Rating.AGAIN, "queue"), (learner, recall, Rating.GOOD, "queue")]
    for who, item, rating, source in reviews:
        ReviewLog.objects.create(learner=who, step=item, rating=rating, source=source, reviewed_at=now,
                                 due_after=now + timedelta(days=1))
    page = teacher.get(f"/teach/{cohort.pk}/items/").content.decode()
    assert row_of(page, "What does each GPU get?")[6:8] == ["4", "75%"]
    recall_row = row_of(page, "Which dimension does a column-parallel layer split")
    assert recall_row[1:] == ["2", "50%"]


def test_it_flags_a_step_everyone_got_right_as_too_easy(teacher, cohort, learner, other_learner):
    join(cohort, learner, other_learner)
    for who in (learner, other_learner):
        guess(who, "what-tp-splits", "what-is-split", "weights")
    page = teacher.get(f"/teach/{cohort.pk}/items/").content.decode()
    assert row_of(page, "What does each GPU get?")[3] == "1.00" and "too easy" in row_of(page, "What does each GPU get?")[-1]


def test_it_renders_in_the_same_number_of_queries_for_a_bigger_class(teacher, cohort, django_user_model,
                                                                      django_assert_max_num_queries):
    join(cohort, *make_learners(django_user_model, 2, "small"))
    synthetic_class(list(cohort.learners()))
    with CaptureQueriesContext(connection) as small:
        teacher.get(f"/teach/{cohort.pk}/items/")
    more = make_learners(django_user_model, 10, "big")
    join(cohort, *more)
    synthetic_class(more, seed=3)
    with django_assert_max_num_queries(len(small)):
        page = teacher.get(f"/teach/{cohort.pk}/items/").content.decode()
    assert row_of(page, "What does each GPU get?")[1] == "12"
