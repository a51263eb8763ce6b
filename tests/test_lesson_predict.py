import pytest

from lessons.models import Guess, Reveal, Step

URL = "/lessons/what-tp-splits/what-is-split/"


def test_it_refuses_the_reveal_until_a_guess_is_committed(logged_in, learner):
    response = logged_in.post(URL + "reveal/")
    assert response.status_code == 409
    assert "Commit a guess first" in response.content.decode()
    assert not Reveal.objects.exists()


def test_it_keeps_the_first_guess_and_records_later_ones_as_new_attempts(logged_in, learner):
    logged_in.post(URL + "guess/", {"choice": "requests"})
    logged_in.post(URL + "guess/", {"choice": "weights"})
    guesses = list(Guess.objects.filter(learner=learner).order_by("attempt").values_list("attempt", "answer", "correct"))
    assert guesses == [(1, "requests", False), (2, "weights", True)]


def test_it_shows_the_guess_beside_the_answer_and_why_after_the_reveal(logged_in):
    logged_in.post(URL + "guess/", {"choice": "requests"})
    page = logged_in.post(URL + "reveal/", follow=True).content.decode()
    assert "Your first guess" in page and "Its share of the incoming requests" in page
    assert "A slice of every weight matrix" in page and "TP cuts the <em>weights</em>" in page
    assert "once at least five learners" in page


def test_it_refuses_a_guess_after_the_reveal_and_keeps_the_first(logged_in, learner):
    logged_in.post(URL + "guess/", {"choice": "requests"})
    logged_in.post(URL + "reveal/")
    response = logged_in.post(URL + "guess/", {"choice": "weights"})
    assert response.status_code == 409 and "already revealed" in response.content.decode()
    assert list(Guess.objects.filter(learner=learner).values_list("attempt", "answer")) == [(1, "requests")]


def test_it_shows_how_the_class_guessed_once_five_learners_have(logged_in, learner, django_user_model):
    step = Step.objects.get(lesson__slug="what-tp-splits", key="what-is-split")
    for i, answer in enumerate(["weights", "weights", "requests", "layers"]):
        other = django_user_model.objects.create_user(f"l{i}")
        Guess.objects.create(learner=other, step=step, attempt=1, answer=answer, correct=answer == "weights")
    logged_in.post(URL + "guess/", {"choice": "weights"})
    page = logged_in.post(URL + "reveal/", follow=True).content.decode()
    assert "How the class guessed (first attempts, 5 learners)" in page
    assert "3 of 5 were right first time" in page and "60%" in page


def test_it_judges_a_numeric_guess_against_the_cost_model_with_tolerance(logged_in, learner):
    url = "/lessons/all-reduce-tax/bytes/"
    logged_in.post(url + "guess/", {"value": "250"})  # 256 KiB within 5%
    logged_in.post(url + "guess/", {"value": "128"})
    assert list(Guess.objects.order_by("attempt").values_list("correct", flat=True)) == [True, False]
    page = logged_in.post(url + "reveal/", follow=True).content.decode()
    assert "256 KiB" in page


def test_it_reads_an_ordering_and_a_multiple_choice(logged_in):
    logged_in.post("/lessons/what-tp-splits/order-mlp/guess/",
                   {"pos_colwise": "1", "pos_act": "2", "pos_rowwise": "3", "pos_allreduce": "4"})
    logged_in.post("/lessons/sizing-tp/valid-70b/guess/", {"choice": ["2", "4"]})
    ordering, multiple = Guess.objects.order_by("id")
    assert ordering.answer == ["colwise", "act", "rowwise", "allreduce"] and ordering.correct
    assert multiple.answer == ["2", "4"] and multiple.correct is False


def test_it_explains_a_guess_it_cannot_read_in_the_fragment(logged_in):
    response = logged_in.post(URL + "guess/", {}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="step")
    body = response.content.decode()
    assert response.status_code == 400 and "Pick one answer first." in body
    assert body.lstrip().startswith('<section id="step"') and "<html" not in body
    assert not Guess.objects.exists()


def test_it_keeps_other_learners_guesses_out_of_the_page(logged_in, other_learner):
    step = Step.objects.get(lesson__slug="what-tp-splits", key="what-is-split")
    Guess.objects.create(learner=other_learner, step=step, attempt=1, answer="layers", correct=False)
    assert logged_in.post(URL + "reveal/").status_code == 409


def test_it_judges_an_order_of_magnitude_guess_on_a_log_scale_and_says_so(logged_in, learner):
    """Issue 11: lesson 6 promised "the order of magnitude", yet with 2.65 ms the answer, 1 ms and
    5 ms were "not quite" (a ±25% band)."""
    url = "/lessons/cluster-findings/cost/"
    page = logged_in.get(url).content.decode()
    assert "Judged right within a factor of 3 either way" in page
    for value in ("1", "5", "30", "0.2"):
        logged_in.post(url + "guess/", {"value": value})
    assert list(Guess.objects.order_by("attempt").values_list("correct", flat=True)) == [True, True, False, False]


def test_it_states_a_relative_tolerance_on_the_step(logged_in):
    page = logged_in.get("/lessons/all-reduce-tax/bytes/").content.decode()
    assert "Judged right within ±5% of the answer" in page


def test_it_explains_why_the_tempting_interview_answer_is_wrong(logged_in, learner):
    url = "/lessons/interview-questions/replicas-vs-tp/"
    logged_in.post(url + "guess/", {"choice": "same"})  # the common wrong answer is a choice
    page = logged_in.post(url + "reveal/", follow=True).content.decode()
    assert "Yes: four GPUs are four GPUs" in page and "not quite" in page
    assert "The tempting answer counts GPUs and ignores the wire" in page
    assert 'title="computed by the cost model: allreduces_per_token(&quot;Llama-3.1-8B&quot;)">65<' in page
    assert list(Guess.objects.filter(learner=learner).values_list("answer", "correct")) == [("same", False)]


@pytest.mark.django_db(transaction=True)
def test_it_keeps_the_first_of_ten_identical_guesses_sent_at_once(learner, course):
    """The same guess posted 10x at once kept the first but answered four with HTTP 500."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection
    from django.test import Client

    start = threading.Barrier(10)

    def post(_):
        client = Client()
        client.force_login(learner)
        start.wait()
        try:
            return client.post(URL + "guess/", {"choice": "weights"})
        finally:
            connection.close()

    with ThreadPoolExecutor(10) as pool:
        responses = list(pool.map(post, range(10)))
    assert list(Guess.objects.filter(learner=learner).values_list("attempt", "answer")) == [(1, "weights")]
    codes = sorted(r.status_code for r in responses)
    assert codes == [302] + [409] * 9
    refused = next(r for r in responses if r.status_code == 409).content.decode()
    assert "already committed" in refused or "at the same moment" in refused


def test_it_refuses_the_same_guess_sent_twice_and_keeps_a_changed_one(logged_in, learner):
    logged_in.post(URL + "guess/", {"choice": "requests"})
    again = logged_in.post(URL + "guess/", {"choice": "requests"})
    assert again.status_code == 409 and "already committed (attempt 1)" in again.content.decode()
    logged_in.post(URL + "guess/", {"choice": "weights"})
    assert list(Guess.objects.filter(learner=learner).values_list("attempt", flat=True)) == [1, 2]
