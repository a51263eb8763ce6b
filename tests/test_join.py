"""Learners join a cohort from /join/<code>/ or by typing the code on /classes/, which also
says what their instructors see."""
from datetime import date, timedelta

from lessons.classroom.models import Membership
from tests.classroom_helpers import cohort, course, fast_password_hashing  # noqa: F401


def test_it_joins_from_the_link_after_showing_what_instructors_see(client, cohort, learner):
    client.force_login(learner)
    page = client.get(f"/join/{cohort.code}/").content.decode()
    assert "Join Autumn class" in page and "What your instructor sees" in page and "teach" in page
    assert not Membership.objects.exists()  # opening the link joins nothing
    response = client.post(f"/join/{cohort.code}/", follow=True)
    assert cohort.has_learner(learner)
    assert "You joined Autumn class." in response.content.decode()


def test_it_joins_by_the_typed_code_in_any_case_with_dashes(client, cohort, learner):
    client.force_login(learner)
    typed = f"{cohort.code[:4].lower()}-{cohort.code[4:].lower()} "
    response = client.post("/classes/", {"code": typed})
    assert response.status_code == 302 and response["Location"] == f"/join/{cohort.code}/"
    client.post(response["Location"])
    assert "Autumn class" in client.get("/classes/").content.decode()


def test_it_names_a_mistyped_code(client, cohort, learner):
    client.force_login(learner)
    response = client.post("/classes/", {"code": "NOPE2345"})
    assert response.status_code == 400 and "No class has the code &#x27;NOPE2345&#x27;" in response.content.decode()
    assert client.get("/join/NOPE2345/").status_code == 404


def test_it_refuses_to_join_a_cohort_that_has_ended(client, cohort, learner):
    cohort.ends_on = date.today() - timedelta(days=1)
    cohort.save()
    client.force_login(learner)
    response = client.post(f"/join/{cohort.code}/")
    assert response.status_code == 409 and "This class ended on" in response.content.decode()
    assert not cohort.has_learner(learner)


def test_it_joins_once_when_the_button_is_pressed_twice(client, cohort, learner):
    client.force_login(learner)
    client.post(f"/join/{cohort.code}/")
    client.post(f"/join/{cohort.code}/")
    assert Membership.objects.filter(learner=learner).count() == 1


def test_it_lets_a_learner_be_in_several_cohorts(client, cohort, learner, instructor):
    from lessons.classroom.models import Cohort

    other = Cohort.create_for(instructor, name="Evening class")
    client.force_login(learner)
    client.post(f"/join/{cohort.code}/")
    client.post(f"/join/{other.code}/")
    page = client.get("/classes/").content.decode()
    assert "Autumn class" in page and "Evening class" in page


def test_it_sends_anonymous_visitors_to_log_in_first(client, cohort):
    response = client.get(f"/join/{cohort.code}/")
    assert response.status_code == 302 and response["Location"] == f"/accounts/login/?next=/join/{cohort.code}/"
