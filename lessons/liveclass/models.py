"""A live class: an instructor paces a cohort through lesson steps, one round per step.

A round takes a first vote, optionally a second vote after discussion (peer instruction,
Mazur 1997: the first→second transitions show who was convinced of what), then one reveal
for everyone. Votes are kept apart from the learner's own lesson guesses (lessons.models.Guess):
a class vote is taken at the instructor's pace and must not close or fill the learner's own step.
"""
from django.conf import settings
from django.db import models

from lessons.classroom.models import Cohort
from lessons.models import Step


class LiveSession(models.Model):
    cohort = models.ForeignKey(Cohort, on_delete=models.CASCADE, related_name="live_sessions")
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    started_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "id"]
        # Two instructors pressing "start" at once get the same session, not two.
        constraints = [models.UniqueConstraint(fields=["cohort"], condition=models.Q(ended_at__isnull=True),
                                               name="one_open_live_session_per_cohort")]

    def __str__(self):
        return f"live {self.cohort} from {self.started_at:%Y-%m-%d %H:%M}"

    def current_round(self) -> "Round | None":
        return self.rounds.select_related("step__lesson", "run").order_by("-number").first()


class Round(models.Model):
    class Phase(models.TextChoices):
        FIRST = "first", "first vote"
        SECOND = "second", "second vote"
        REVEALED = "revealed", "revealed"

    session = models.ForeignKey(LiveSession, on_delete=models.CASCADE, related_name="rounds")
    number = models.PositiveIntegerField()
    step = models.ForeignKey(Step, on_delete=models.CASCADE, related_name="+")
    phase = models.CharField(max_length=8, choices=Phase.choices, default=Phase.FIRST)
    opened_at = models.DateTimeField(auto_now_add=True)
    second_vote_at = models.DateTimeField(null=True, blank=True)
    revealed_at = models.DateTimeField(null=True, blank=True)
    run = models.ForeignKey("tpworkers.ExperimentRun", on_delete=models.SET_NULL, null=True, blank=True,
                            related_name="live_rounds", help_text="a lab step's run, watched by the class")

    class Meta:
        ordering = ["session", "number"]
        constraints = [models.UniqueConstraint(fields=["session", "number"], name="one_round_number_per_session")]

    def __str__(self):
        return f"round {self.number} of {self.session}: {self.step}"

    @property
    def vote_number(self) -> int | None:
        """Which vote is open: 1, 2, or None once revealed."""
        return {self.Phase.FIRST: 1, self.Phase.SECOND: 2}.get(self.phase)


class Vote(models.Model):
    """One learner's answer in one vote of a round; the unique constraint is what makes a
    double submit (two tabs, a retried request) a refusal rather than a second vote."""

    round = models.ForeignKey(Round, on_delete=models.CASCADE, related_name="votes")
    learner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    number = models.PositiveSmallIntegerField(help_text="1: first vote, 2: second vote after discussion")
    answer = models.JSONField()
    correct = models.BooleanField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["round", "learner", "number"], name="one_vote_per_learner_per_vote")]

    def __str__(self):
        return f"{self.learner} vote {self.number} in {self.round}"
