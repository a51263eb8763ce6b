"""The learner's live page at /class/<code>/: it follows the instructor's step; without
JavaScript the vote is a plain form and the page reloads itself until the reveal."""
import pytest

from lessons.liveclass import flow
from lessons.liveclass.models import Vote
from tests.live_class_helpers import (  # noqa: F401
    classmates, cohort, course, fast_password_hashing, open_round,
)


@pytest.fixture
def member(client, classmates, memory_layer):
    client.force_login(classmates[0])
    return client


def test_it_is_not_found_for_someone_outside_the_class(client, cohort, other_learner, memory_layer):
    client.force_login(other_learner)
    assert client.get(f"/class/{cohort.code}/").status_code == 404
    assert client.post(f"/class/{cohort.code}/vote/", {"choice": "weights"}).status_code == 404


def test_it_waits_for_the_instructor_and_reloads_without_javascript(member, cohort):
    page = member.get(f"/class/{cohort.code}/").content.decode()
    assert "Waiting for your instructor" in page and 'http-equiv="refresh"' in page
    assert f'ws-connect="/ws/live/{cohort.pk}/"' in page


def test_it_takes_a_vote_from_a_plain_form_once(member, cohort, instructor):
    round_ = open_round(cohort, instructor)
    response = member.post(f"/class/{cohort.code}/vote/", {"choice": "layers"})
    assert response.status_code == 302
    again = member.post(f"/class/{cohort.code}/vote/", {"choice": "weights"})
    assert again.status_code == 409 and "Your vote is already in" in again.content.decode()
    assert list(Vote.objects.filter(round=round_).values_list("answer", flat=True)) == ["layers"]


def test_it_names_a_missing_answer(member, cohort, instructor):
    open_round(cohort, instructor)
    response = member.post(f"/class/{cohort.code}/vote/", {})
    assert response.status_code == 409
    assert "Pick one answer first." in response.content.decode()


def test_it_shows_the_reveal_and_takes_no_more_votes(member, cohort, instructor):
    round_ = open_round(cohort, instructor)
    member.post(f"/class/{cohort.code}/vote/", {"choice": "layers"})
    flow.reveal(round_)
    page = member.get(f"/class/{cohort.code}/").content.decode()
    assert "The answer: <strong>A slice of every weight matrix" in page and "not quite" in page
    refused = member.post(f"/class/{cohort.code}/vote/", {"choice": "weights"})
    assert "this round takes no more votes" in refused.content.decode()


def test_it_keeps_the_learners_own_lesson_step_open(member, cohort, instructor, classmates):
    from lessons.models import Guess

    open_round(cohort, instructor)
    member.post(f"/class/{cohort.code}/vote/", {"choice": "layers"})
    assert not Guess.objects.filter(learner=classmates[0]).exists()
