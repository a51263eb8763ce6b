"""The end-of-lesson quiz pages: start (or retake), one question at a time, the score."""
import random

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from labapp.htmx import render_page
from lessons import predictions
from lessons.models import Lesson
from lessons.review import quiz as quizzes
from lessons.review.models import Quiz

PAGE = "review/quiz.html"


def _get_lesson(slug: str) -> Lesson:
    lesson = Lesson.objects.filter(slug=slug).first()
    if lesson is None or not quizzes.quiz_steps(lesson):
        raise Http404("This lesson has no quiz")
    return lesson


def _get_quiz_for_user(learner, slug: str, quiz_id: int) -> Quiz:
    quiz = Quiz.objects.select_related("lesson").filter(pk=quiz_id, learner=learner, lesson__slug=slug).first()
    if quiz is None:
        raise Http404("No such quiz")
    return quiz


def _respond(request, context: dict, status: int = 200):
    return render_page(request, PAGE, context, {"quiz": f"{PAGE}#quiz"}, status)


def _quiz_context(quiz: Quiz) -> dict:
    item = quizzes.current(quiz)
    right, total = quizzes.score(quiz)
    return {"quiz": quiz, "lesson": quiz.lesson, "item": item, "question": quizzes.as_question(item) if item else None,
            "right": right, "total": total, "answered": quiz.questions.filter(answered_at__isnull=False).count()}


@login_required
def quiz_home(request, slug: str):
    """The lesson's quiz: past scores, and a button that starts a new one (a POST)."""
    lesson = _get_lesson(slug)
    if request.method == "POST":
        quiz = quizzes.start_quiz(request.user, lesson, timezone.now(), random.Random())
        return redirect("review_quiz_take", slug=slug, quiz_id=quiz.pk)
    past = list(Quiz.objects.filter(learner=request.user, lesson=lesson).order_by("-started_at"))
    for quiz in past:
        quiz.right, quiz.total = quizzes.score(quiz)
    return render(request, "review/quiz_home.html", {"lesson": lesson, "past": past,
                                                     "size": min(quizzes.QUIZ_SIZE, len(quizzes.quiz_steps(lesson)))})


@login_required
def quiz_take(request, slug: str, quiz_id: int):
    """The next question, or the score; after a plain form's answer, that answer's reveal above."""
    quiz = _get_quiz_for_user(request.user, slug, quiz_id)
    answered = request.GET.get("answered", "")
    return _respond(request, _quiz_context(quiz) | (_answered(quiz, int(answered)) if answered.isdigit() else {}))


@login_required
@require_POST
def quiz_answer(request, slug: str, quiz_id: int):
    quiz = _get_quiz_for_user(request.user, slug, quiz_id)
    item = quizzes.current(quiz)
    if item is None or str(item.position) != request.POST.get("position"):
        return _respond(request, _quiz_context(quiz) | {"error": "That question is already answered: "
                                                        "your first answer is kept."}, status=409)
    try:
        quizzes.answer(item, request.POST, timezone.now())
    except predictions.GuessError as exc:
        return _respond(request, _quiz_context(quiz) | {"error": str(exc)}, status=400)
    if not request.htmx:
        return redirect(f"{request.path.removesuffix('answer/')}?answered={item.position}")
    return _respond(request, _quiz_context(quiz) | _answered(quiz, item.position))


def _answered(quiz: Quiz, position) -> dict:
    """The just-answered question's reveal, shown above the next question or the score."""
    item = quiz.questions.select_related("step__lesson").filter(position=position, answered_at__isnull=False).first()
    if item is None:
        return {}
    q = quizzes.as_question(item)
    return {"answered_item": item, "answered_question": q, "your_text": predictions.describe(q.step, item.answer),
            "answer_text": q.answer_text()}
