"""Lessons and steps (loaded from lessons/content/) and what each learner did with them.

Learner records are append-only where the spec asks for history: every committed guess is a
new Guess row (the first one is never changed), so an instructor can later compute first-attempt
accuracy and answer distributions per step.
"""

from django.conf import settings
from django.db import models
from django.urls import reverse


class Lesson(models.Model):
    slug = models.SlugField(unique=True)
    order = models.PositiveIntegerField()
    title = models.CharField(max_length=200)
    goal = models.TextField(help_text="Today's goal, one or two sentences (Markdown).")
    analogy = models.TextField(blank=True)
    infra_bridge = models.TextField(blank=True, help_text="How this maps to Kubernetes.")
    sources = models.JSONField(default=list, help_text='[{"title": ..., "url": ...}]')
    content_hash = models.CharField(max_length=64, blank=True, editable=False)

    class Meta:
        ordering = ["order"]

    def __str__(self):
        return f"{self.order}. {self.title}"

    def live_steps(self):
        return self.steps.filter(retired=False)

    def previous(self) -> "Lesson | None":
        return Lesson.objects.filter(order__lt=self.order).order_by("-order").first()

    def following(self) -> "Lesson | None":
        return Lesson.objects.filter(order__gt=self.order).order_by("order").first()


class Step(models.Model):
    class Kind(models.TextChoices):
        READ = "read"
        PREDICT = "predict"
        RECALL = "recall"
        TEACHBACK = "teachback"
        CALCULATOR = "calculator"
        DECISION = "decision"
        LAB = "lab"
        CLUSTER = "cluster"
        TORCHRUN = "torchrun", "Run with torchrun"

    lesson = models.ForeignKey(Lesson, on_delete=models.CASCADE, related_name="steps")
    key = models.SlugField(help_text="Stable id inside the lesson; learners' records hang on it.")
    order = models.PositiveIntegerField()
    kind = models.CharField(max_length=12, choices=Kind.choices)
    title = models.CharField(max_length=200)
    config = models.JSONField(default=dict, help_text="The step's fields as written in the lesson file.")
    # A step deleted from its file is retired, not deleted, so learners' attempts survive.
    retired = models.BooleanField(default=False)

    class Meta:
        ordering = ["lesson__order", "order"]
        constraints = [models.UniqueConstraint(fields=["lesson", "key"], name="one_step_key_per_lesson")]

    def __str__(self):
        return f"{self.lesson.slug}/{self.key}"

    def get_absolute_url(self) -> str:
        return reverse("lesson_step", args=[self.lesson.slug, self.key])


class LearnerRecord(models.Model):
    learner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    step = models.ForeignKey(Step, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True
        ordering = ["created_at", "id"]

    def __str__(self):
        return f"{self.learner} · {self.step}"


class Guess(LearnerRecord):
    """A committed prediction. Attempt 1 is the learner's first guess, kept for good."""

    attempt = models.PositiveIntegerField()
    answer = models.JSONField(help_text="choice key, list of keys, number, or ordered keys")
    correct = models.BooleanField(null=True, help_text="None where only a measurement can judge it")

    class Meta(LearnerRecord.Meta):
        verbose_name_plural = "guesses"
        constraints = [models.UniqueConstraint(fields=["learner", "step", "attempt"], name="one_guess_per_attempt")]


class Reveal(LearnerRecord):
    class Meta(LearnerRecord.Meta):
        constraints = [models.UniqueConstraint(fields=["learner", "step"], name="one_reveal_per_step")]


class RecallRating(LearnerRecord):
    """How well the learner recalled an answer; the input of a later review queue."""

    class Rating(models.TextChoices):
        AGAIN = "again", "Again"
        HARD = "hard", "Hard"
        GOOD = "good", "Good"
        EASY = "easy", "Easy"

    rating = models.CharField(max_length=5, choices=Rating.choices)


class TeachBack(LearnerRecord):
    """The learner's own explanation, saved before they see the model answer."""

    text = models.TextField()
    checked = models.JSONField(default=list, help_text="indexes of checklist items the learner ticked (latest)")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta(LearnerRecord.Meta):
        verbose_name = "teach-back"
        constraints = [models.UniqueConstraint(fields=["learner", "step"], name="one_teachback_per_step")]


class ChecklistTick(LearnerRecord):
    """Every save of a teach-back checklist, with its time: the history behind TeachBack.checked."""

    checked = models.JSONField(default=list, help_text="indexes of checklist items ticked in this save")


class StepOpened(LearnerRecord):
    """When the learner first opened a step (created_at): the start of the time an instructor
    sees from opening a prediction to its first guess. Learners who opened a step before this
    record existed have none; their times are left out, not guessed."""

    class Meta(LearnerRecord.Meta):
        verbose_name = "step opened"
        verbose_name_plural = "steps opened"
        constraints = [models.UniqueConstraint(fields=["learner", "step"], name="one_first_open_per_step")]


class Progress(models.Model):
    """Where a learner is in a lesson, so the lesson resumes there, and when they finished it
    (every step done: see lessons.state.done_keys)."""

    learner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    lesson = models.ForeignKey(Lesson, on_delete=models.CASCADE, related_name="+")
    current_step = models.ForeignKey(Step, on_delete=models.SET_NULL, null=True, related_name="+")
    visited = models.JSONField(default=list, help_text="keys of the steps the learner has opened")
    finished_at = models.DateTimeField(null=True, blank=True, help_text="when every step was first done")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = verbose_name_plural = "lesson progress"
        constraints = [models.UniqueConstraint(fields=["learner", "lesson"], name="one_progress_per_lesson")]

    def __str__(self):
        return f"{self.learner} · {self.lesson.slug}"
