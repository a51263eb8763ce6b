"""The misconception map: each step's most common wrong first answer, with its text, across the
course, sorted by how many learners hold it."""
import re

from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.classroom_helpers import (  # noqa: F401
    cohort, course, fast_password_hashing, guess, join, make_learners, synthetic_class, teacher,
)


def held(page: str) -> list[tuple[str, str]]:
    """(wrong answer, learners) per row, in page order."""
    rows = re.findall(r'<td class="wrong-text"><strong>(.*?)</strong>.*?</td>\s*<td>.*?</td>\s*<td>.*?</span>(\d+)</td>',
                      page, re.S)
    return [(re.sub(r"<[^>]+>", "", text), count) for text, count in rows]


def test_it_sorts_steps_by_how_many_learners_hold_their_most_common_wrong_answer(teacher, cohort, django_user_model):
    learners = make_learners(django_user_model, 4)
    join(cohort, *learners)
    for learner in learners[:3]:
        guess(learner, "all-reduce-tax", "bytes", 128)  # 3 learners: 128 KiB (the answer is 256 KiB)
    guess(learners[3], "all-reduce-tax", "bytes", 256)
    guess(learners[0], "what-tp-splits", "what-is-split", "requests")  # 1 learner
    guess(learners[1], "what-tp-splits", "what-is-split", "weights")
    guess(learners[2], "what-tp-splits", "what-is-split", "tokens")
    page = teacher.get(f"/teach/{cohort.pk}/misconceptions/").content.decode()
    assert held(page) == [("128 KiB", "3"), ("Its share of the incoming requests; this one goes to one GPU", "1")]
    assert "75% of 4" in page and "33% of 3" in page


def test_it_says_so_when_nobody_was_wrong(teacher, cohort, learner):
    join(cohort, learner)
    guess(learner, "what-tp-splits", "what-is-split", "weights")
    assert "No wrong first guess yet" in teacher.get(f"/teach/{cohort.pk}/misconceptions/").content.decode()


def test_it_renders_in_the_same_number_of_queries_for_a_bigger_class(teacher, cohort, django_user_model,
                                                                      django_assert_max_num_queries):
    join(cohort, *make_learners(django_user_model, 2, "small"))
    synthetic_class(list(cohort.learners()))
    with CaptureQueriesContext(connection) as small:
        teacher.get(f"/teach/{cohort.pk}/misconceptions/")
    more = make_learners(django_user_model, 10, "big")
    join(cohort, *more)
    synthetic_class(more, seed=5)
    with django_assert_max_num_queries(len(small)):
        page = teacher.get(f"/teach/{cohort.pk}/misconceptions/").content.decode()
    assert len(held(page)) > 10
