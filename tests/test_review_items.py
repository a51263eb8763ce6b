"""How an auto-graded answer becomes an FSRS rating (the rule the review page states)."""
from datetime import timedelta

from django.http import QueryDict

from lessons.models import Step
from lessons.review.items import Graded, grade, question, rating_for
from lessons.review.models import Rating

NUMERIC = Step(key="n", kind="predict", config={"kind": "numeric", "answer": "1000", "unit": "", "tolerance": 0.1,
                                                 "prompt": "How many?", "why": "Because."})


def test_a_wrong_answer_is_again_however_fast():
    assert rating_for(Graded("x", False, None), timedelta(seconds=3)) == Rating.AGAIN


def test_a_right_answer_is_good_hard_when_slow_and_easy_when_quick():
    right = Graded("x", True, None)
    assert rating_for(right, timedelta(seconds=30)) == Rating.GOOD
    assert rating_for(right, timedelta(seconds=61)) == Rating.HARD
    assert rating_for(right, timedelta(seconds=9)) == Rating.EASY


def test_a_number_in_the_outer_half_of_its_tolerance_is_hard_even_when_quick():
    near = grade(question(NUMERIC, None), QueryDict("value=1030"))
    far = grade(question(NUMERIC, None), QueryDict("value=1080"))
    assert near.correct and far.correct and far.closeness > 0.5 > near.closeness
    assert rating_for(near, timedelta(seconds=5)) == Rating.EASY
    assert rating_for(far, timedelta(seconds=5)) == Rating.HARD
    assert rating_for(grade(question(NUMERIC, None), QueryDict("value=1200")), timedelta(seconds=5)) == Rating.AGAIN
