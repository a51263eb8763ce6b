"""The progress matrix: learners × lessons (done / at step n of m / not started), last
activity, sorting, and who is stuck."""
import re
from datetime import timedelta

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from lessons.classroom.models import Membership
from lessons.models import Guess, Progress
from tests.classroom_helpers import (  # noqa: F401
    cohort, course, fast_password_hashing, guess, join, make_learners, step, synthetic_class, teacher,
)


def rows(page: str) -> dict[str, list[str]]:
    found = {}
    for row in re.findall(r"<tr class=\"(?:stuck)?\">(.*?)</tr>", page, re.S):
        cells = [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", c)).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        found[cells[0].split()[0]] = cells
    return found


def test_it_shows_each_learner_per_lesson_with_the_step_they_are_at(teacher, cohort, learner, other_learner):
    join(cohort, learner, other_learner)
    client = Client()
    client.force_login(learner)
    client.get("/lessons/what-tp-splits/intro/")
    client.get("/lessons/what-tp-splits/what-is-split/")
    client.post("/lessons/what-tp-splits/what-is-split/guess/", {"choice": "weights"})
    client.post("/lessons/what-tp-splits/what-is-split/reveal/")
    page = teacher.get(f"/teach/{cohort.pk}/").content.decode()
    ada, grace = rows(page)["ada"], rows(page)["grace"]
    assert ada[1] == "step 2 of 11" and ada[2] == "not started"
    assert '<td class="cell in-progress" title="2 of 11 steps done">step 2 of 11</td>' in page
    assert ada[-2] == "2" and ada[-1] != "none yet"
    assert grace[1] == "not started" and grace[-1] == "none yet"
    assert cohort.code in page and f"/join/{cohort.code}/" in page


def test_it_highlights_a_learner_without_activity_for_the_chosen_days(teacher, cohort, learner, other_learner):
    join(cohort, learner, other_learner)
    guess(learner, "what-tp-splits", "what-is-split", "weights")
    guess(other_learner, "what-tp-splits", "what-is-split", "weights")
    long_ago = timezone.now() - timedelta(days=10)
    Guess.objects.filter(learner=learner).update(created_at=long_ago)
    Membership.objects.update(joined_at=long_ago)
    page = teacher.get(f"/teach/{cohort.pk}/?stuck=7").content.decode()
    assert re.search(r'<tr class="stuck">\s*<td>ada <span class="stuck-key">stuck</span>', page)
    assert not re.search(r'<tr class="stuck">\s*<td>grace', page)
    assert "1 stuck" in page
    assert "stuck-key\">stuck</span>" not in teacher.get(f"/teach/{cohort.pk}/?stuck=30").content.decode()


def test_it_sorts_by_progress_and_by_activity(teacher, cohort, learner, other_learner):
    join(cohort, learner, other_learner)
    for key in ("what-is-split", "gate-columns"):
        Progress.objects.get_or_create(learner=other_learner, lesson=step("what-tp-splits", key).lesson)
    client_page = teacher.get(f"/teach/{cohort.pk}/?sort=name").content.decode()
    assert list(rows(client_page)) == ["ada", "grace"]
    guess(other_learner, "what-tp-splits", "what-is-split", "weights")
    from lessons.models import Reveal
    Reveal.objects.create(learner=other_learner, step=step("what-tp-splits", "what-is-split"))
    assert list(rows(teacher.get(f"/teach/{cohort.pk}/?sort=progress").content.decode())) == ["grace", "ada"]
    assert list(rows(teacher.get(f"/teach/{cohort.pk}/?sort=activity").content.decode())) == ["ada", "grace"]


def test_it_swaps_only_the_matrix_for_htmx(teacher, cohort, learner):
    join(cohort, learner)
    page = teacher.get(f"/teach/{cohort.pk}/?sort=progress", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="progress")
    text = page.content.decode()
    assert text.lstrip().startswith('<section id="progress"') and "<html" not in text and "ada" in text


def test_it_renders_in_the_same_number_of_queries_for_a_bigger_class(teacher, cohort, django_user_model,
                                                                      django_assert_max_num_queries):
    join(cohort, *make_learners(django_user_model, 2, "small"))
    synthetic_class(list(cohort.learners()))
    with CaptureQueriesContext(connection) as small:
        teacher.get(f"/teach/{cohort.pk}/")
    more = make_learners(django_user_model, 10, "big")
    join(cohort, *more)
    synthetic_class(more, seed=4)
    with django_assert_max_num_queries(len(small)):
        page = teacher.get(f"/teach/{cohort.pk}/").content.decode()
    assert len(rows(page)) == 12
