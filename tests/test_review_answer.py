"""POST /review/answer/: judged against exactly what was asked, rated, scheduled, kept once."""
from datetime import timedelta

from django.utils import timezone

from lessons.models import Reveal
from lessons.predictions import answer_value
from lessons.review.items import question
from lessons.review.models import ReviewCard, ReviewLog
from lessons.review.views import question_token
from tests.review_support import HTMX, step, token_in


def ask(item, seed=None, seconds_ago=30):
    return question_token(item, seed, timezone.now() - timedelta(seconds=seconds_ago))


def test_a_self_rated_recall_is_scheduled_and_the_plain_form_redirects_to_its_result(logged_in, learner):
    logged_in.post("/lessons/what-tp-splits/recall-col-row/rate/", {"rating": "again"})
    token = token_in(logged_in.get("/review/").content.decode())
    response = logged_in.post("/review/answer/", {"token": token, "rating": "good"})
    log = ReviewLog.objects.get(source="queue")
    assert response.status_code == 302 and response["Location"] == f"/review/reviewed/{log.pk}/"
    assert log.rating == 3 and log.correct is None
    page = logged_in.get(response["Location"]).content.decode()
    assert "Rated <strong>Good</strong>" in page and "The output dimension" in page and "Next item" in page
    assert "due-count" not in page  # nothing is due any more


def test_htmx_swaps_in_the_result_and_updates_the_navigation_count(logged_in, learner):
    logged_in.post("/lessons/what-tp-splits/recall-col-row/rate/", {"rating": "again"})
    logged_in.post("/lessons/what-tp-splits/recall-heads/rate/", {"rating": "again"})
    response = logged_in.post("/review/answer/", {"token": ask(step("recall-col-row")), "rating": "again"}, **HTMX)
    html = response.content.decode()
    assert response.status_code == 200 and html.lstrip().startswith('<section id="review"')
    assert "Rated <strong>Again</strong>" in html and "due again in 1 minute" in html
    assert 'id="nav-review" href="/review/" hx-swap-oob="true"' in html and "2 due" in html


def test_a_variant_is_judged_against_its_own_answer(logged_in, learner):
    item = step("gate-columns")
    Reveal.objects.create(learner=learner, step=item)
    asked = question(item, 5)  # Llama-3.1-8B at TP=8 (model-major order)
    right = answer_value(asked.step)
    assert asked.names == {"model": "Llama-3.1-8B", "tp": 8} and right == 14336 / 8
    logged_in.post("/review/answer/", {"token": ask(item, 5), "value": str(right)})
    log = ReviewLog.objects.get()
    assert log.correct is True and log.rating == 3 and log.seed == 5 and log.variant == asked.names
    assert ReviewCard.objects.get().introduced_at is not None  # it came from the queue: a new item


def test_a_wrong_answer_is_rated_again_and_shown_beside_the_answer(logged_in, learner):
    item = step("what-is-split")
    Reveal.objects.create(learner=learner, step=item)
    response = logged_in.post("/review/answer/", {"token": ask(item), "choice": "requests"}, follow=True)
    page = response.content.decode()
    assert "not quite" in page and "A slice of every weight matrix" in page and "Rated <strong>Again</strong> by the rule" in page
    assert ReviewLog.objects.get().rating == 1


def test_a_quick_right_answer_is_easy_and_a_slow_one_hard(logged_in, learner):
    quick, slow = step("what-is-split"), step("why-alternate")
    logged_in.post("/review/answer/", {"token": ask(quick, seconds_ago=5), "choice": "weights"})
    logged_in.post("/review/answer/", {"token": ask(slow, seconds_ago=90), "choice": "nonlinear"})
    assert dict(ReviewLog.objects.values_list("step__key", "rating")) == {"what-is-split": 4, "why-alternate": 2}


def test_the_first_answer_of_a_showing_is_kept(logged_in, learner):
    token = ask(step("what-is-split"))
    logged_in.post("/review/answer/", {"token": token, "choice": "requests"})
    response = logged_in.post("/review/answer/", {"token": token, "choice": "weights"}, follow=True)
    assert "your first answer is kept" in response.content.decode()
    assert list(ReviewLog.objects.values_list("answer", "correct")) == [("requests", False)]


def test_unreadable_input_asks_the_same_question_again_with_the_reason(logged_in, learner):
    token = ask(step("gate-columns"), seed=2)
    response = logged_in.post("/review/answer/", {"token": token, "value": "lots"}, **HTMX)
    html = response.content.decode()
    assert response.status_code == 400 and "Enter a number." in html and token in html
    assert not ReviewLog.objects.exists()


def test_a_forged_token_is_refused(logged_in):
    response = logged_in.post("/review/answer/", {"token": "not-a-token", "choice": "weights"})
    assert response.status_code == 400 and "did not come from a question this site showed you" in response.content.decode()
    assert not ReviewLog.objects.exists()


def test_a_recall_needs_a_rating(logged_in):
    response = logged_in.post("/review/answer/", {"token": ask(step("recall-col-row")), "rating": "meh"})
    assert response.status_code == 400 and "Choose Again, Hard, Good or Easy." in response.content.decode()


def test_another_learners_review_is_not_shown(logged_in, other_learner, client):
    logged_in.post("/review/answer/", {"token": ask(step("what-is-split")), "choice": "weights"})
    log = ReviewLog.objects.get()
    client.force_login(other_learner)
    assert client.get(f"/review/reviewed/{log.pk}/").status_code == 404
