"""Recall, teach-back, calculator and decision tree steps, through their views (lab and
cluster steps: test_lesson_lab.py, test_lesson_cluster.py)."""
import io

import pytest
from django.core.management import call_command

from lessons.models import Progress, RecallRating, TeachBack


@pytest.fixture
def logged_in(client, learner, db):
    call_command("loadlessons", stdout=io.StringIO())
    client.force_login(learner)
    return client


def test_it_covers_the_recall_answer_and_stores_the_rating(logged_in, learner):
    url = "/lessons/what-tp-splits/recall-col-row/"
    page = logged_in.get(url).content.decode()
    assert '<details class="recall-answer" >' in page and "Show the answer" in page
    logged_in.post(url + "rate/", {"rating": "hard"})
    assert list(RecallRating.objects.values_list("learner", "rating")) == [(learner.id, "hard")]
    assert logged_in.post(url + "rate/", {"rating": "perfect"}).status_code == 400


def test_it_saves_the_teachback_before_showing_the_model_answer_and_checklist(logged_in, learner):
    url = "/lessons/what-tp-splits/teach/"
    assert "A model answer" not in logged_in.get(url).content.decode()
    assert logged_in.post(url + "checklist/", {"item": ["0"]}).status_code == 409
    logged_in.post(url + "teachback/", {"text": "TP splits the weights of every layer across GPUs."})
    page = logged_in.get(url).content.decode()
    assert "A model answer" in page and "TP splits the weights of every layer" in page
    logged_in.post(url + "checklist/", {"item": ["0", "2", "99"]})
    assert TeachBack.objects.get(learner=learner).checked == [0, 2]


def test_it_computes_the_calculator_as_a_full_page_and_as_a_fragment(logged_in):
    url = "/lessons/all-reduce-tax/comm-calculator/"
    full = logged_in.get(url, {"model": "Llama-3.1-70B", "tp": "4", "tokens": "8", "dtype": "bf16"})
    assert "<html" in full.content.decode() and "160" in full.content.decode()
    fragment = logged_in.get(url, {"model": "Gemma-3-27B", "tp": "2", "tokens": "8", "dtype": "bf16"},
                             HTTP_HX_REQUEST="true", HTTP_HX_TARGET="calc-result").content.decode()
    assert fragment.lstrip().startswith('<div id="calc-result"') and "2.65 ms" in fragment


def test_it_names_an_invalid_tp_size_in_the_memory_calculator(logged_in):
    page = logged_in.get("/lessons/tp-or-replicas/fit-calculator/", {"model": "Llama-3.1-70B", "tp": "3"}).content.decode()
    assert "64 heads are not divisible by TP=3" in page


def test_it_walks_the_decision_tree_by_the_learners_answers(logged_in):
    url = "/lessons/tp-or-replicas/tree/"
    assert "Do the weights, the KV cache" in logged_in.get(url).content.decode()
    page = logged_in.get(url, {"path": "0-0"}).content.decode()
    assert "Run TP=1 replicas, one per GPU." in page and f'href="{url}?path=' not in page
    assert "TP inside each node, pipeline parallelism across nodes." in logged_in.get(url, {"path": "1-1"}).content.decode()


def test_it_resumes_a_lesson_where_the_learner_left_off(logged_in, learner):
    assert logged_in.get("/lessons/the-wire/")["Location"] == "/lessons/the-wire/three-wires/"
    logged_in.get("/lessons/the-wire/topo/")
    assert logged_in.get("/lessons/the-wire/")["Location"] == "/lessons/the-wire/topo/"
    assert "resume at “Read the topology”" in logged_in.get("/lessons/").content.decode()
    assert Progress.objects.get(learner=learner).current_step.key == "topo"


def test_it_links_the_last_step_to_the_next_lesson_and_swaps_steps_with_htmx(logged_in):
    page = logged_in.get("/lessons/what-tp-splits/teach/").content.decode()
    assert 'href="/lessons/all-reduce-tax/"' in page and "Next lesson: The all-reduce tax" in page
    fragment = logged_in.get("/lessons/what-tp-splits/heads/", HTTP_HX_REQUEST="true",
                             HTTP_HX_TARGET="lesson-main").content.decode()
    assert fragment.lstrip().startswith('<article id="lesson-main"') and "<aside" not in fragment


def test_it_requires_a_login(client, db):
    assert client.get("/lessons/what-tp-splits/intro/")["Location"].startswith("/accounts/login/")
