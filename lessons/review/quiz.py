"""The end-of-lesson quiz: up to ``QUIZ_SIZE`` of the lesson's predictions in a random order,
each as a freshly drawn variant where it has variants, graded, with a score. A learner may
take it again whenever they like; the first answer to each question is kept. A quiz grades
without touching the review schedule, so retaking it cannot skew an item's intervals.
"""
from __future__ import annotations

import random
from datetime import datetime

from django.db import transaction

from lessons.models import Lesson, Step
from lessons.review.items import Graded, Question, fresh_question, grade, question
from lessons.review.models import Quiz, QuizQuestion

QUIZ_SIZE = 5


def quiz_steps(lesson: Lesson) -> list[Step]:
    return list(lesson.live_steps().filter(kind=Step.Kind.PREDICT))


@transaction.atomic
def start_quiz(learner, lesson: Lesson, now: datetime, rng: random.Random) -> Quiz:
    steps = quiz_steps(lesson)
    quiz = Quiz.objects.create(learner=learner, lesson=lesson, started_at=now)
    for position, step in enumerate(rng.sample(steps, min(QUIZ_SIZE, len(steps))), start=1):
        QuizQuestion.objects.create(quiz=quiz, position=position, step=step, seed=fresh_question(step, rng).seed)
    return quiz


def as_question(item: QuizQuestion) -> Question:
    return question(item.step, item.seed)


def current(quiz: Quiz) -> QuizQuestion | None:
    return quiz.questions.select_related("step__lesson").filter(answered_at__isnull=True).first()


def answer(item: QuizQuestion, post, now: datetime) -> Graded:
    """Grade and keep the first answer (predictions.GuessError for input it cannot read)."""
    graded = grade(as_question(item), post)
    if QuizQuestion.objects.filter(pk=item.pk, answered_at__isnull=True).update(
            answer=graded.answer, correct=graded.correct, answered_at=now):
        if not current(item.quiz):
            Quiz.objects.filter(pk=item.quiz_id, finished_at__isnull=True).update(finished_at=now)
    item.refresh_from_db()
    return graded


def score(quiz: Quiz) -> tuple[int, int]:
    """(right, questions)."""
    answers = list(quiz.questions.values_list("correct", flat=True))
    return sum(1 for correct in answers if correct), len(answers)
