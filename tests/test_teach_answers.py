"""Per-step answers: the class's first guesses per choice with each choice's text, numeric
guesses as a log-axis histogram with the answer and its tolerance band, orderings as position
agreement, and each step's most common wrong answer."""
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from lessons import predictions
from tests.classroom_helpers import (  # noqa: F401
    cohort, course, fast_password_hashing, guess, join, make_learners, step, synthetic_class, teacher,
)


def answers_page(client, cohort) -> str:
    return client.get(f"/teach/{cohort.pk}/answers/").content.decode()


def step_section(page: str, step_key_text: str) -> str:
    """The card of the step whose title contains ``step_key_text``."""
    sections = re.findall(r'<section class="card answers".*?</section>', page, re.S)
    return next(s for s in sections if step_key_text in s)


def test_it_counts_first_guesses_per_choice_with_their_text(teacher, cohort, django_user_model):
    ada, bo, cy, outsider = make_learners(django_user_model, 4)
    join(cohort, ada, bo, cy)
    guess(ada, "what-tp-splits", "what-is-split", "weights")
    guess(bo, "what-tp-splits", "what-is-split", "requests", "weights")  # only the first guess counts
    guess(cy, "what-tp-splits", "what-is-split", "requests")
    guess(outsider, "what-tp-splits", "what-is-split", "layers")  # not in the cohort
    card = step_section(answers_page(teacher, cohort), "What does each GPU get?")
    assert "3 answered" in card and "1 right first time" in card
    counts = {text.split(";")[0].strip(): int(n) for n, text in re.findall(r'<span class="n">(\d+)</span> ([^<]+)', card)}
    assert counts == {"Its share of the incoming requests": 2, "Its share of the layers, one after another": 0,
                      "A slice of every weight matrix in every layer — and this request passes through all four": 1,
                      "Its share of the prompt's tokens": 0}
    assert re.search(r"Most common wrong answer: <strong>Its share of the incoming requests.*</strong> — 2 of 3", card)


def test_it_draws_numeric_guesses_on_a_log_axis_with_the_answer_and_band(teacher, cohort, django_user_model):
    learners = make_learners(django_user_model, 3)
    join(cohort, *learners)
    for learner, value in zip(learners, [250, 128, 128]):  # the answer is 256 KiB, tolerance 5%
        guess(learner, "all-reduce-tax", "bytes", value)
    card = step_section(answers_page(teacher, cohort), "256 KiB")
    assert card.count('<rect class="bin"') == 2  # 128 and 250 fall in different quarter decades
    assert '<rect class="band"' in card and '<line class="answer"' in card
    assert "2 guesses from" in card and "log axis, bins 1/4 of a decade wide" in card
    assert re.search(r"Most common wrong answer: <strong>128 KiB</strong> — 2 of 3", card)
    assert re.search(r'the answer: [^<]*256[^<]* <span class="prov modelled">modelled</span>', card)


def test_it_shows_position_agreement_for_an_ordering(teacher, cohort, learner, other_learner):
    join(cohort, learner, other_learner)
    guess(learner, "what-tp-splits", "order-mlp", ["colwise", "act", "rowwise", "allreduce"])
    guess(other_learner, "what-tp-splits", "order-mlp", ["act", "colwise", "rowwise", "allreduce"])
    card = step_section(answers_page(teacher, cohort), "One MLP under TP")
    rows = re.findall(r"<tr><td>(\d)</td><td>.*?</td><td>(\d) \((\d+)%\)</td></tr>", card)
    assert rows == [("1", "1", "50"), ("2", "1", "50"), ("3", "2", "100"), ("4", "2", "100")]


def test_it_renders_in_the_same_number_of_queries_for_a_bigger_class(teacher, cohort, django_user_model,
                                                                      django_assert_max_num_queries):
    join(cohort, *make_learners(django_user_model, 2, "small"))
    synthetic_class(list(cohort.learners()))
    with CaptureQueriesContext(connection) as small:
        answers_page(teacher, cohort)
    more = make_learners(django_user_model, 10, "big")
    join(cohort, *more)
    synthetic_class(more, seed=2)
    with django_assert_max_num_queries(len(small)):
        page = answers_page(teacher, cohort)
    assert "12 answered" in page


def test_it_shades_the_range_judged_right_on_a_log_scale(teacher, cohort, learner, other_learner):
    """A step judged within a factor (here 3) shades answer/3 to answer·3: the band is wider
    than the bin holding the answer, and a guess just inside it is counted right."""
    target = step("cluster-findings", "cost")
    low, high = predictions.right_range(target)
    answer = predictions.answer_value(target)
    assert (low, high) == pytest.approx((answer / 3, answer * 3))
    join(cohort, learner, other_learner)
    guess(learner, "cluster-findings", "cost", high * 0.99)
    guess(other_learner, "cluster-findings", "cost", high * 1.2)
    card = step_section(answers_page(teacher, cohort), "What does it cost per token?")
    assert "2 answered" in card and "1 right first time" in card
    band = re.search(r'<rect class="band" x="([\d.]+)" y="0" width="([\d.]+)"', card)
    line = re.search(r'<line class="answer" x1="([\d.]+)"', card)
    band_x, band_width, answer_x = float(band.group(1)), float(band.group(2)), float(line.group(1))
    assert band_x < answer_x < band_x + band_width
    assert band_width == pytest.approx(2 * (answer_x - band_x), abs=0.2)  # symmetric on the log axis
