"""Experiment runs and what they measured. The measuring itself lives in the plain modules."""

from datetime import timedelta

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone


class ExperimentRun(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"
        CANCELLED = "cancelled"

    class Experiment(models.TextChoices):
        COLLECTIVE_SWEEP = "collective_sweep", "Collective sweep"

    ACTIVE = (Status.QUEUED, Status.RUNNING)

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="runs")
    experiment = models.CharField(max_length=40, choices=Experiment.choices)
    params = models.JSONField(default=dict)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)
    error = models.TextField(blank=True)
    worker = models.CharField(max_length=200, blank=True)
    device_group = models.CharField(max_length=100, blank=True)
    transport = models.CharField(max_length=100, blank=True)
    cancel_requested = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    last_progress_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"run {self.pk} ({self.experiment}, {self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE

    def planned_sizes(self) -> list[int]:
        return list(self.params.get("sizes", []))

    def mark_running(self, worker: str, device_group: str) -> None:
        now = timezone.now()
        self.status = self.Status.RUNNING
        self.worker, self.device_group = worker, device_group
        self.started_at = self.last_progress_at = now
        self.save(update_fields=["status", "worker", "device_group", "started_at", "last_progress_at"])

    def record(self, seq: int, data: dict) -> "Measurement":
        """Save one measured row as it arrives, and note the run made progress."""
        with transaction.atomic():
            measurement, _ = Measurement.objects.update_or_create(run=self, seq=seq, defaults={"data": data})
            self.last_progress_at = timezone.now()
            self.save(update_fields=["last_progress_at"])
        return measurement

    def finish(self, status: str, error: str = "", transport: str = "") -> None:
        self.status, self.error = status, error
        self.transport = transport or self.transport
        self.finished_at = timezone.now()
        self.save(update_fields=["status", "error", "transport", "finished_at"])

    def stall_reason(self, now=None) -> str | None:
        """Why an active run should be called failed, or None while it looks alive.

        A run whose worker was killed or lost Redis never reports again; without this check
        its page would spin forever.
        """
        if not self.is_active:
            return None
        now = now or timezone.now()
        limit = timedelta(seconds=settings.RUN_STALL_TIMEOUT_S)
        last = self.last_progress_at or self.created_at
        if now - last <= limit:
            return None
        if self.status == self.Status.QUEUED:
            return (f"No worker picked this run up in {settings.RUN_STALL_TIMEOUT_S} s: "
                    "is a lab worker running (python manage.py labworker)?")
        return (f"The worker ({self.worker or 'unknown'}) stopped reporting for "
                f"{settings.RUN_STALL_TIMEOUT_S} s: it was probably killed or lost its connection.")

    def fail_if_stalled(self, now=None) -> bool:
        reason = self.stall_reason(now)
        if reason is None:
            return False
        # Only fail a run that is still active in the database (the worker may have just finished).
        updated = ExperimentRun.objects.filter(pk=self.pk, status__in=self.ACTIVE).update(
            status=self.Status.FAILED, error=reason, finished_at=timezone.now()
        )
        self.refresh_from_db()
        return bool(updated)


class Measurement(models.Model):
    """One measured row (for a sweep: one message size), as the experiment reported it."""

    run = models.ForeignKey(ExperimentRun, on_delete=models.CASCADE, related_name="measurements")
    seq = models.PositiveIntegerField()
    data = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["seq"]
        constraints = [models.UniqueConstraint(fields=["run", "seq"], name="one_row_per_seq")]
