"""Cohorts — a class with its instructors, its learners and a join code — and what instructors
add to learners' teach-backs: a comment the learner reads, and the mark that shows a teach-back
to the class as an example (only with its author's consent).

Learners' own work stays in lessons.models; a cohort only says whose work an instructor sees.
"""
import secrets

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from lessons.models import TeachBack

# No 0/O or 1/I/L: a code is read aloud and typed from a slide.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalise_code(text: str) -> str:
    """A code as typed ("abcd-efgh ", lower case) in the form it is stored."""
    return "".join(ch for ch in text.upper() if ch not in " -")


class CohortQuerySet(models.QuerySet):
    def taught_by(self, user):
        return self.filter(instructors=user) if user.is_authenticated else self.none()


class Cohort(models.Model):
    name = models.CharField(max_length=200)
    code = models.CharField(max_length=16, unique=True, default=new_code, editable=False,
                            help_text="what learners type, or open as /join/<code>/")
    starts_on = models.DateField(null=True, blank=True)
    ends_on = models.DateField(null=True, blank=True, help_text="no one joins after this day")
    instructors = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="cohorts_taught")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = CohortQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "id"]
        constraints = [models.CheckConstraint(condition=models.Q(ends_on__gte=models.F("starts_on"))
                                              | models.Q(ends_on__isnull=True) | models.Q(starts_on__isnull=True),
                                              name="cohort_ends_after_it_starts")]

    def __str__(self):
        return f"{self.name} ({self.code})"

    @classmethod
    def create_for(cls, instructor, **fields) -> "Cohort":
        """A new cohort taught by ``instructor``; a join code that is already taken is drawn again."""
        for _ in range(5):
            try:
                with transaction.atomic():
                    cohort = cls.objects.create(created_by=instructor, code=new_code(), **fields)
                    cohort.instructors.add(instructor)
                    return cohort
            except IntegrityError:
                continue
        raise IntegrityError("five join codes in a row were taken")

    def learners(self):
        from django.contrib.auth import get_user_model

        return get_user_model().objects.filter(cohort_memberships__cohort=self).order_by("username")

    def is_taught_by(self, user) -> bool:
        return user.is_authenticated and self.instructors.filter(pk=user.pk).exists()

    def has_learner(self, user) -> bool:
        return user.is_authenticated and self.memberships.filter(learner=user).exists()

    def why_closed(self, today=None) -> str | None:
        """Why no one may join any more, or None while they may."""
        today = today or timezone.now().date()
        if self.ends_on and self.ends_on < today:
            return f"This class ended on {self.ends_on:%Y-%m-%d}: ask your instructor for the code of a current one."
        return None


class Membership(models.Model):
    """A learner in a cohort. A learner may be in several cohorts."""

    cohort = models.ForeignKey(Cohort, on_delete=models.CASCADE, related_name="memberships")
    learner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="cohort_memberships")
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["joined_at", "id"]
        constraints = [models.UniqueConstraint(fields=["cohort", "learner"], name="one_membership_per_cohort")]

    def __str__(self):
        return f"{self.learner} in {self.cohort}"


class ShareConsent(models.Model):
    """The author's yes to showing their teach-back to their class as an example, without their
    name. Withdrawing it deletes the row, and the example disappears from the class at once."""

    teachback = models.OneToOneField(TeachBack, on_delete=models.CASCADE, related_name="share_consent")
    given_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"consent: {self.teachback}"


class Exemplary(models.Model):
    """A teach-back an instructor picked to show a cohort, after each learner wrote their own."""

    cohort = models.ForeignKey(Cohort, on_delete=models.CASCADE, related_name="exemplars")
    teachback = models.ForeignKey(TeachBack, on_delete=models.CASCADE, related_name="+")
    marked_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    marked_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "exemplary teach-backs"
        constraints = [models.UniqueConstraint(fields=["cohort", "teachback"], name="one_mark_per_cohort")]

    def __str__(self):
        return f"exemplary in {self.cohort}: {self.teachback}"


class TeachBackComment(models.Model):
    """An instructor's short comment on a teach-back; its author reads it under their text."""

    MAX_LENGTH = 1000

    cohort = models.ForeignKey(Cohort, on_delete=models.CASCADE, related_name="comments")
    teachback = models.ForeignKey(TeachBack, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    text = models.TextField(max_length=MAX_LENGTH)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self):
        return f"comment by {self.author} on {self.teachback}"
