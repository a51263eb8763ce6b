"""The review queue's records: per learner and item, an FSRS card and every review of it.

An item is a lesson step (a recall prompt or a checkable prediction), keyed by the step —
lesson slug and step key, which the loader keeps stable across edits — so editing a lesson's
text keeps the learner's history, and a retired step's card leaves the queue while its log
stays. A generated variant is recorded on the review that showed it (seed and values).
"""
from datetime import timedelta

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from lessons.models import Lesson, Step


class ReviewSettings(models.Model):
    learner = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    desired_retention = models.FloatField(
        default=0.9, validators=[MinValueValidator(0.7), MaxValueValidator(0.97)],
        help_text="The chance of recalling an item when it comes due (0.70–0.97): higher means more reviews.")
    daily_new_limit = models.PositiveIntegerField(
        default=10, validators=[MaxValueValidator(100)],
        help_text="New items (predictions you revealed in a lesson) the queue introduces per day.")
    parameters = models.JSONField(null=True, blank=True,
                                  help_text="Personal FSRS parameters fitted by the optimizer; empty: the defaults")


class Rating(models.IntegerChoices):
    """The values of fsrs.Rating."""
    AGAIN = 1, "Again"
    HARD = 2, "Hard"
    GOOD = 3, "Good"
    EASY = 4, "Easy"


class ReviewCard(models.Model):
    """One learner's memory of one item as FSRS models it: the package's Card.to_dict()."""

    learner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    step = models.ForeignKey(Step, on_delete=models.CASCADE, related_name="review_cards")
    state = models.JSONField(null=True, help_text="fsrs Card.to_dict(); empty until the first review")
    # Copied from the state so the due count is one indexed query; None: never reviewed.
    due = models.DateTimeField(null=True)
    suspended = models.BooleanField(default=False)
    introduced_at = models.DateTimeField(null=True, help_text="first reviewed in the queue (the daily new limit)")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["learner", "step"], name="one_review_card_per_item")]
        indexes = [models.Index(fields=["learner", "due"], name="review_card_due")]


class ReviewLog(models.Model):
    """Every review, kept for good: the history page and the optimizer read it."""

    class Source(models.TextChoices):
        LESSON = "lesson", "lesson"
        QUEUE = "queue", "review queue"

    learner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    step = models.ForeignKey(Step, on_delete=models.CASCADE, related_name="+")
    reviewed_at = models.DateTimeField()
    rating = models.PositiveSmallIntegerField(choices=Rating.choices)
    source = models.CharField(max_length=6, choices=Source.choices)
    shown_at = models.DateTimeField(null=True, help_text="when the queue showed the question")
    duration_ms = models.PositiveIntegerField(null=True)
    seed = models.PositiveIntegerField(null=True, help_text="the generated variant shown")
    variant = models.JSONField(null=True, help_text="that variant's values")
    answer = models.JSONField(null=True)
    correct = models.BooleanField(null=True, help_text="None: rated by the learner")
    due_after = models.DateTimeField(help_text="when this review scheduled the item next")

    class Meta:
        ordering = ["reviewed_at", "id"]
        # One question shown, one review: a second submission of it keeps the first answer.
        constraints = [models.UniqueConstraint(fields=["learner", "step", "shown_at"], name="one_review_per_showing")]

    def interval(self) -> timedelta:
        return self.due_after - self.reviewed_at


class ParameterFit(models.Model):
    """A request to fit a learner's FSRS parameters, what the optimizer made of it."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    # A queued fit no worker has taken after this long is failed with the likely reason.
    WAIT_LIMIT = timedelta(minutes=10)

    learner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    requested_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True)
    reviews_used = models.PositiveIntegerField(null=True)
    before = models.JSONField(help_text="the parameters in use when it was asked for")
    after = models.JSONField(null=True)
    message = models.TextField(blank=True)

    class Meta:
        ordering = ["requested_at", "id"]

    def in_flight(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)

    def pairs(self) -> list[tuple[float, float]]:
        """(before, fitted) for each parameter."""
        return list(zip(self.before, self.after or []))


class Quiz(models.Model):
    """An end-of-lesson quiz: a few graded items of one lesson. It does not move the schedule."""

    learner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    lesson = models.ForeignKey(Lesson, on_delete=models.CASCADE, related_name="+")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True)

    class Meta:
        ordering = ["started_at", "id"]


class QuizQuestion(models.Model):
    quiz = models.ForeignKey(Quiz, on_delete=models.CASCADE, related_name="questions")
    position = models.PositiveSmallIntegerField()
    step = models.ForeignKey(Step, on_delete=models.CASCADE, related_name="+")
    seed = models.PositiveIntegerField(null=True)
    answer = models.JSONField(null=True)
    correct = models.BooleanField(null=True)
    answered_at = models.DateTimeField(null=True)

    class Meta:
        ordering = ["position"]
        constraints = [models.UniqueConstraint(fields=["quiz", "position"], name="one_quiz_question_per_position")]
