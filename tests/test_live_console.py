"""The instructor's console at /teach/live/<cohort>/: only the cohort's instructors drive; each
press moves the class and the tally shows counts, bars and the first→second transitions."""
import pytest

from lessons.liveclass import flow
from lessons.liveclass.models import LiveSession, Round, Vote
from tests.live_class_helpers import (  # noqa: F401
    CHOICE, NUMBER, classmates, cohort, course, fast_password_hashing, open_round, step,
)


@pytest.fixture
def teacher(client, instructor, memory_layer):
    client.force_login(instructor)
    return client


@pytest.mark.parametrize("who", ["learner", "other_instructor"])
def test_it_hides_the_console_from_anyone_but_the_cohort_instructors(client, cohort, classmates, django_user_model,
                                                                     memory_layer, who):
    user = classmates[0] if who == "learner" else django_user_model.objects.create_user("other", is_staff=True)
    client.force_login(user)
    assert client.get(f"/teach/live/{cohort.pk}/").status_code == 404
    assert client.post(f"/teach/live/{cohort.pk}/open/", {"step": step(*CHOICE).pk}).status_code == 404
    assert client.post(f"/teach/live/{cohort.pk}/reveal/").status_code == 404
    assert not LiveSession.objects.exists()


def test_it_starts_a_session_on_the_first_step_picked(teacher, cohort):
    response = teacher.post(f"/teach/live/{cohort.pk}/open/", {"step": step(*CHOICE).pk})
    assert response.status_code == 302
    round_ = flow.current_round(cohort)
    assert round_.step == step(*CHOICE) and round_.phase == Round.Phase.FIRST
    page = teacher.get(f"/teach/live/{cohort.pk}/").content.decode()
    assert "What does each GPU get?" in page and "Open a second vote" in page and "0</strong> answers of 0" in page


def test_it_answers_an_htmx_press_in_place(teacher, cohort):
    """The buttons came over the socket and post with htmx: the new ones come back the same way,
    so the answer only clears the last refusal, or says why this press was refused."""
    htmx = {"HTTP_HX_REQUEST": "true"}
    pressed = teacher.post(f"/teach/live/{cohort.pk}/open/", {"step": step(*CHOICE).pk}, **htmx)
    assert pressed.status_code == 200 and flow.current_round(cohort).step == step(*CHOICE)
    assert pressed.content.decode().strip() == '<div id="live-error" hx-swap-oob="true"></div>'
    teacher.post(f"/teach/live/{cohort.pk}/reveal/", **htmx)
    refused = teacher.post(f"/teach/live/{cohort.pk}/reveal/", **htmx)
    assert refused.status_code == 409 and "This round is already revealed." in refused.content.decode()
    assert 'id="live-error" hx-swap-oob="true"' in refused.content.decode() and "<html" not in refused.content.decode()


def test_it_refuses_a_step_that_takes_no_vote(teacher, cohort):
    read_step = step("what-tp-splits", "column-row")
    response = teacher.post(f"/teach/live/{cohort.pk}/open/", {"step": read_step.pk})
    assert response.status_code == 409 and "Pick a prediction or lab step" in response.content.decode()


def test_it_shows_how_votes_moved_between_the_two_votes(teacher, cohort, classmates, instructor):
    round_ = open_round(cohort, instructor)
    flow.cast_vote(round_, classmates[0], "layers")
    flow.cast_vote(round_, classmates[1], "weights")
    teacher.post(f"/teach/live/{cohort.pk}/second/")
    round_.refresh_from_db()
    flow.cast_vote(round_, classmates[0], "weights")
    flow.cast_vote(round_, classmates[1], "weights")
    page = teacher.get(f"/teach/live/{cohort.pk}/").content.decode()
    assert "How 2 learners moved from the first vote (rows) to the second (columns); 1 changed their answer" in page
    assert "second vote, after discussion" in page


def test_it_reveals_then_ends_with_the_votes_kept(teacher, cohort, classmates, instructor):
    round_ = open_round(cohort, instructor)
    flow.cast_vote(round_, classmates[0], "weights")
    teacher.post(f"/teach/live/{cohort.pk}/reveal/")
    page = teacher.get(f"/teach/live/{cohort.pk}/").content.decode()
    assert "The answer: <strong>A slice of every weight matrix" in page and "Reveal to everyone" not in page
    assert teacher.post(f"/teach/live/{cohort.pk}/reveal/").status_code == 409
    teacher.post(f"/teach/live/{cohort.pk}/end/")
    assert flow.open_session(cohort) is None
    vote = Vote.objects.get()
    assert (vote.number, vote.answer, vote.correct, vote.round.revealed_at is not None) == (1, "weights", True, True)


def test_it_shows_the_projector_view_without_names(teacher, cohort, classmates, instructor):
    round_ = open_round(cohort, instructor)
    flow.cast_vote(round_, classmates[0], "weights")
    page = teacher.get(f"/teach/live/{cohort.pk}/screen/").content.decode()
    assert "What does each GPU get?" in page and "<strong data-answer-count>1</strong>" in page
    assert classmates[0].username not in page and "Reveal" not in page


def test_it_shows_the_class_votes_in_the_dashboards_answers(teacher, cohort, classmates, instructor):
    round_ = open_round(cohort, instructor)
    flow.cast_vote(round_, classmates[0], "layers")
    flow.cast_vote(round_, classmates[1], "weights")
    flow.open_second_vote(round_)
    flow.cast_vote(round_, classmates[0], "weights")
    flow.end_session(cohort)
    page = teacher.get(f"/teach/{cohort.pk}/answers/").content.decode()
    assert "In class: first vote 1 of 2 right · second vote 1 of 1 right" in page


def test_it_captions_the_bin_width_the_histogram_drew(teacher, cohort, classmates, instructor):
    """The caption always said "a quarter of a decade", also when guesses twelve decades apart
    had widened the bins to whole decades."""
    round_ = open_round(cohort, instructor, NUMBER)
    flow.cast_vote(round_, classmates[0], 1.0)
    flow.cast_vote(round_, classmates[1], 1e12)
    page = teacher.get(f"/teach/live/{cohort.pk}/").content.decode()
    assert "log axis, bins 1 decade wide" in page and "quarter of a decade" not in page


def test_it_refreshes_the_console_and_the_projector_without_javascript(teacher, cohort, instructor):
    open_round(cohort, instructor)
    for page in (f"/teach/live/{cohort.pk}/", f"/teach/live/{cohort.pk}/screen/"):
        html = teacher.get(page).content.decode()
        assert '<noscript><meta http-equiv="refresh" content="5"></noscript>' in html, page
        assert '"includeIndicatorStyles":false' in html, page  # no htmx style element for the CSP to refuse


def test_it_shades_the_right_range_after_revealing_a_numeric_round(teacher, cohort, classmates, instructor):
    """The live tally passed a number where the histogram now takes the (lowest, highest) right
    range: revealing any numeric step with a tolerance broke the console with a TypeError."""
    from lessons import predictions

    round_ = open_round(cohort, instructor, ("the-wire", "ratio"))  # numeric, tolerance 0.1
    flow.cast_vote(round_, classmates[0], 2.0)
    flow.cast_vote(round_, classmates[1], 100.0)
    flow.reveal(round_)
    page = teacher.get(f"/teach/live/{cohort.pk}/").content.decode()
    assert '<rect class="band"' in page
    low, high = predictions.right_range(round_.step)
    assert low < predictions.answer_value(round_.step) < high


def test_it_reveals_a_lab_round_which_has_no_answer_to_shade(teacher, cohort, classmates, instructor):
    """A lab step is judged by its measurement: the tally after a reveal draws the guesses alone."""
    round_ = open_round(cohort, instructor, ("all-reduce-tax", "lab-256k"))
    flow.cast_vote(round_, classmates[0], 40.0)
    flow.reveal(round_)
    page = teacher.get(f"/teach/live/{cohort.pk}/").content.decode()
    assert "<strong data-answer-count>1</strong>" in page and '<rect class="band"' not in page


def test_it_draws_the_dashboards_histogram_with_its_stylesheet(teacher, cohort, classmates, instructor):
    """The tally's histogram is the dashboard's drawing (classroom/_histogram.html), coloured by
    the one stylesheet both load: on the console and on the projector, which has no dashboard CSS."""
    round_ = open_round(cohort, instructor, NUMBER)
    flow.cast_vote(round_, classmates[0], 7168.0)
    for page in (f"/teach/live/{cohort.pk}/", f"/teach/live/{cohort.pk}/screen/"):
        html = teacher.get(page).content.decode()
        assert '<svg class="log-histogram"' in html and "css/histogram.css" in html, page
