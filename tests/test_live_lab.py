"""A lab step in class: the instructor presses the run button once for everyone; the cohort's
learners may watch that run while the live session shows it, and see the class's median guess."""
import pytest

from lessons.liveclass import flow
from tests.live_class_helpers import (  # noqa: F401
    classmates, cohort, course, fast_password_hashing, open_round,
)
from tpworkers.runs import run_for_user, run_to_watch

LAB = ("the-wire", "lab-pair")


@pytest.fixture
def lab_round(client, cohort, classmates, instructor, lab_node, memory_layer):
    round_ = open_round(cohort, instructor, LAB)
    for learner, guess in zip(classmates, (20.0, 80.0)):
        flow.cast_vote(round_, learner, guess)
    client.force_login(instructor)
    assert client.post(f"/teach/live/{cohort.pk}/run/").status_code == 302
    round_.refresh_from_db()
    return round_


def test_it_runs_the_lab_once_for_the_class(client, cohort, lab_round, instructor):
    assert lab_round.run.owner == instructor and lab_round.run.status == "queued"
    again = client.post(f"/teach/live/{cohort.pk}/run/")
    assert again.status_code == 409 and "once per round" in again.content.decode()


def test_it_lets_the_class_watch_the_run_while_the_session_is_open(client, cohort, lab_round, classmates,
                                                                  other_learner, django_user_model):
    outsider = django_user_model.objects.create_user("outsider")
    assert run_to_watch(classmates[0], lab_round.run_id) is not None
    assert run_to_watch(outsider, lab_round.run_id) is None
    assert run_for_user(classmates[0], lab_round.run_id) is None  # watch, not cancel
    client.force_login(classmates[0])
    assert client.post(f"/lab/runs/{lab_round.run_id}/cancel/").status_code == 404
    page = client.get(f"/class/{cohort.code}/").content.decode()
    assert f'ws-connect="/ws/runs/{lab_round.run_id}/"' in page and f'id="run-{lab_round.run_id}-row-0"' in page
    assert "median <strong>50</strong>" in page
    flow.end_session(cohort)
    assert run_to_watch(classmates[0], lab_round.run_id) is None
