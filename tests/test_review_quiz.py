"""/review/quiz/<lesson>/: a graded end-of-lesson quiz with a score, taken as often as wanted."""
import random
import re

from django.utils import timezone

from lessons.models import Lesson
from lessons.predictions import answer_value
from lessons.review import quiz as quizzes
from lessons.review.items import question
from lessons.review.models import Quiz, ReviewLog

URL = "/review/quiz/what-tp-splits/"


def right_answer(item) -> dict:
    """The POST a learner who knows the answer sends for a quiz question."""
    q = question(item.step, item.seed)
    kind, expected = q.config["kind"], q.config["answer"]
    if kind == "numeric":
        return {"value": str(answer_value(q.step))}
    if kind == "ordering":
        return {f"pos_{key}": str(i) for i, key in enumerate(expected, start=1)}
    return {"choice": expected}


def wrong_answer(item) -> dict:
    q = question(item.step, item.seed)
    kind, expected = q.config["kind"], q.config["answer"]
    if kind == "numeric":
        return {"value": str(3 * answer_value(q.step))}
    if kind == "ordering":
        return {f"pos_{key}": str(i) for i, key in enumerate(reversed(expected), start=1)}
    return {"choice": next(o["key"] for o in q.options() if o["key"] not in expected)}


def test_the_last_step_of_a_lesson_invites_to_its_quiz(logged_in):
    page = logged_in.get("/lessons/what-tp-splits/teach/").content.decode()
    assert f'<a href="{URL}">Take the lesson quiz</a>' in page


def test_it_draws_the_lessons_predictions_with_variants_in_a_random_order(learner, course):
    lesson = Lesson.objects.get(slug="what-tp-splits")
    quiz = quizzes.start_quiz(learner, lesson, timezone.now(), random.Random(3))
    keys = [q.step.key for q in quiz.questions.all()]
    assert sorted(keys) == ["gate-columns", "order-mlp", "what-is-split", "why-alternate"]  # all four, < 5
    assert quiz.questions.get(step__key="gate-columns").seed is not None
    assert quiz.questions.get(step__key="what-is-split").seed is None


def test_a_learner_answers_one_question_at_a_time_and_gets_a_score(logged_in, learner):
    response = logged_in.post(URL)
    quiz = Quiz.objects.get()
    assert response["Location"] == f"{URL}{quiz.pk}/"
    for item in quiz.questions.all():
        answer = wrong_answer(item) if item.position == 1 else right_answer(item)
        page = logged_in.post(f"{URL}{quiz.pk}/answer/", {"position": item.position, **answer}, follow=True)
    html = page.content.decode()
    assert "Your score: <strong>3 of 4</strong>" in html and "Take it again" in html
    assert not ReviewLog.objects.exists()  # a quiz does not move the review schedule
    assert "3 of 4" in logged_in.get(URL).content.decode()


def test_htmx_swaps_the_reveal_and_the_next_question_in(logged_in):
    logged_in.post(URL)
    quiz = Quiz.objects.get()
    item = quiz.questions.first()
    response = logged_in.post(f"{URL}{quiz.pk}/answer/", {"position": item.position, **right_answer(item)},
                              HTTP_HX_REQUEST="true", HTTP_HX_TARGET="quiz")
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="quiz"') and "<html" not in html
    assert "verdict-mark right" in html and "Question 2 of 4" in html


def test_unreadable_input_is_refused_and_the_question_stays(logged_in):
    logged_in.post(URL)
    quiz = Quiz.objects.get()
    item = quiz.questions.first()
    response = logged_in.post(f"{URL}{quiz.pk}/answer/", {"position": item.position})
    assert response.status_code == 400 and re.search(r"(Pick|Tick|Give|Enter)", response.content.decode())
    assert quizzes.current(quiz) == item


def test_the_first_answer_is_kept(logged_in):
    logged_in.post(URL)
    quiz = Quiz.objects.get()
    item = quiz.questions.first()
    logged_in.post(f"{URL}{quiz.pk}/answer/", {"position": item.position, **right_answer(item)})
    response = logged_in.post(f"{URL}{quiz.pk}/answer/", {"position": item.position, "choice": "x", "value": "1"})
    assert response.status_code == 409 and "your first answer is kept" in response.content.decode()
    item.refresh_from_db()
    assert item.correct is True


def test_a_quiz_is_its_learners_only(logged_in, other_learner, client):
    logged_in.post(URL)
    quiz = Quiz.objects.get()
    client.force_login(other_learner)
    assert client.get(f"{URL}{quiz.pk}/").status_code == 404
