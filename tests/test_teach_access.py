"""Who may open the dashboard: the cohort's instructors; a learner and another cohort's
instructor get 404; anonymous visitors the login page."""
import pytest

from lessons.classroom.models import Cohort
from lessons.models import TeachBack
from tests.classroom_helpers import cohort, course, fast_password_hashing, join, step, teacher  # noqa: F401

PAGES = ["", "answers/", "misconceptions/", "items/", "teachbacks/", "labs/", "export/", "export/answers.csv",
         "export/cohort.json"]


@pytest.fixture
def other_instructor(django_user_model):
    return django_user_model.objects.create_user("other-teacher", is_staff=True)


def statuses(client, cohort) -> dict[str, int]:
    return {page: client.get(f"/teach/{cohort.pk}/{page}").status_code for page in PAGES}


def test_it_shows_each_view_to_the_cohort_instructor(teacher, cohort):
    assert statuses(teacher, cohort) == dict.fromkeys(PAGES, 200)


def test_it_hides_each_view_from_a_learner_of_the_cohort(client, cohort, learner):
    join(cohort, learner)
    client.force_login(learner)
    assert statuses(client, cohort) == dict.fromkeys(PAGES, 404)


def test_it_hides_each_view_from_an_instructor_of_another_cohort(client, cohort, other_instructor):
    Cohort.create_for(other_instructor, name="Theirs")
    client.force_login(other_instructor)
    assert statuses(client, cohort) == dict.fromkeys(PAGES, 404)


def test_it_sends_anonymous_visitors_to_the_login_page(client, cohort):
    for page in PAGES:
        response = client.get(f"/teach/{cohort.pk}/{page}")
        assert response.status_code == 302, page
        assert response["Location"] == f"/accounts/login/?next=/teach/{cohort.pk}/{page}"


def test_it_hides_the_cohort_list_from_learners_and_lists_only_ones_own(client, cohort, learner, other_instructor):
    Cohort.create_for(other_instructor, name="Theirs")
    client.force_login(learner)
    assert client.get("/teach/").status_code == 404
    client.force_login(other_instructor)
    page = client.get("/teach/").content.decode()
    assert "Theirs" in page and "Autumn class" not in page


def test_it_refuses_feedback_posts_from_another_cohorts_instructor(client, cohort, other_instructor, learner):
    join(cohort, learner)
    record = TeachBack.objects.create(learner=learner, step=step("what-tp-splits", "teach"), text="x" * 30)
    client.force_login(other_instructor)
    for action in ("comment", "exemplary"):
        response = client.post(f"/teach/{cohort.pk}/teachbacks/{record.pk}/{action}/", {"text": "hi", "exemplary": "1"})
        assert response.status_code == 404
    assert not record.comments.exists()


def test_it_shows_a_co_instructor_the_cohort_once_shared(client, teacher, cohort, other_instructor):
    teacher.post(f"/teach/{cohort.pk}/instructors/", {"username": "other-teacher"})
    client.force_login(other_instructor)
    assert client.get(f"/teach/{cohort.pk}/").status_code == 200
