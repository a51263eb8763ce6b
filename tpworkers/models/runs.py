"""Experiment runs and what they measured. The measuring itself lives in tpworkers.measure."""

from datetime import timedelta

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from tpworkers.experiments import describe_devices, row_labels
from tpworkers.models.clusters import Node
from tpworkers.rank_sharing import run_note


class ExperimentRun(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"
        CANCELLED = "cancelled"

    class Experiment(models.TextChoices):
        COLLECTIVE_SWEEP = "collective_sweep", "Collective sweep"
        TP_LAYER = "tp_layer", "Sharded layer at TP sizes"
        DECODE_COMM = "decode_comm", "Decode-step communication"

    ACTIVE = (Status.QUEUED, Status.RUNNING)

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="runs")
    node = models.ForeignKey(Node, on_delete=models.SET_NULL, null=True, blank=True, related_name="runs")
    experiment = models.CharField(max_length=40, choices=Experiment.choices)
    params = models.JSONField(default=dict)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)
    error = models.TextField(blank=True)
    worker = models.CharField(max_length=200, blank=True)
    devices = models.JSONField(default=dict, blank=True)  # experiments.device_fields once it runs; {} before
    transport = models.CharField(max_length=100, blank=True)
    cancel_requested = models.BooleanField(default=False)
    return_to = models.CharField(max_length=300, blank=True)  # the lesson step that asked for this run
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

    @property
    def sharing_note(self) -> str:
        return run_note(self.devices, self.node.cpu_cores if self.node else 0)

    def planned_rows(self) -> list[str]:
        """A label per row the experiment will measure, known before it starts."""
        return row_labels(self.experiment, self.params)

    def queue_position(self) -> int | None:
        """1 when this run is next on its node; None once it is no longer queued."""
        if self.status != self.Status.QUEUED:
            return None
        ahead = ExperimentRun.objects.filter(node=self.node, status__in=self.ACTIVE, created_at__lt=self.created_at)
        return ahead.count() + 1

    @property
    def device_group(self) -> str:
        """Where it ran, in words ("nccl on GPU 0,1, P2P off"); "" before it started."""
        return describe_devices(self.devices)

    def gpus_used(self) -> tuple[int, ...] | None:
        """The GPUs it ran on: () for CPU ranks, None before it started."""
        return tuple(self.devices["gpus"]) if self.devices else None

    def setting(self) -> dict:
        """Where it measured: node, devices ("GPU0+GPU1", or the CPU group) and the wire."""
        described = self.gpus_used()
        gpus = [int(g) for g in self.params.get("gpus") or ()] or list(described or ())
        if gpus:
            devices = "+".join(f"GPU{g}" for g in gpus)
            wire = "P2P on" if self.params.get("p2p", True) else "P2P off"
        else:
            devices, wire = ("CPU (gloo)" if described == () else "devices not chosen yet"), ""
        return {"node": self.node.hostname if self.node else "", "devices": devices, "wire": wire}

    def setting_text(self) -> str:
        """Devices and wire in words, what its chart series is labelled with ("GPU0+GPU1, P2P
        on"). The status block carries it too, so the live chart's legend follows a queued run
        once the worker chooses its devices (runchart.js)."""
        where = self.setting()
        return ", ".join(part for part in (where["devices"], where["wire"]) if part)

    def mark_running(self, worker: str, devices: dict) -> bool:
        """Claim a queued run for this worker, atomically. False, and nothing written, when it is
        no longer queued: cancelled or failed meanwhile, or taken by an earlier delivery of the
        same task (a broker may deliver a task twice)."""
        now = timezone.now()
        claimed = ExperimentRun.objects.filter(pk=self.pk, status=self.Status.QUEUED).update(
            status=self.Status.RUNNING, worker=worker, devices=devices, started_at=now, last_progress_at=now,
        )
        self.refresh_from_db()
        return bool(claimed)

    def record(self, seq: int, data: dict) -> None:
        """Save one measured row as it arrives, and note the run made progress: one short
        transaction, the row one statement (an upsert, not a read then a write), so a busy
        SQLite holds its write lock for two statements per size."""
        with transaction.atomic():
            Measurement.objects.bulk_create([Measurement(run=self, seq=seq, data=data)], update_conflicts=True,
                                            unique_fields=["run", "seq"], update_fields=["data"])
            self.last_progress_at = timezone.now()
            ExperimentRun.objects.filter(pk=self.pk).update(last_progress_at=self.last_progress_at)

    def finish(self, status: str, error: str = "", transport: str = "", expected=ACTIVE) -> bool:
        """End the run, but only if it is still in one of the `expected` statuses (a status or a
        tuple): a late DONE from the worker never overwrites a FAILED (stall) or CANCELLED.
        Returns whether it changed; either way the instance then holds what is saved."""
        expected = (expected,) if isinstance(expected, str) else tuple(expected)
        changes = {"status": status, "error": error, "finished_at": timezone.now()}
        if transport:
            changes["transport"] = transport
        changed = ExperimentRun.objects.filter(pk=self.pk, status__in=expected).update(**changes)
        self.refresh_from_db()
        return bool(changed)

    def stall_reason(self, now=None) -> str | None:
        """Why an active run should be called failed, or None while it looks alive.

        A run whose worker was killed or lost Redis never reports again; without this check its
        page would spin forever. While a task runs, its worker refreshes last_progress_at every
        NODE_HEARTBEAT_S (tpworkers.tasks.KeepAlive), so RUN_STALL_TIMEOUT_S without it means the
        worker process is gone, not that a step is slow: the rank pool's own step timeouts
        (longer) name a hung rank themselves.

        A queued run waits as long as its node's worker is alive and busy. It fails when the node
        is offline (no heartbeat), or when the node is online but its worker has shown no
        progress on any run for RUN_STALL_TIMEOUT_S since this run was queued: the worker's
        consumer is stuck, or the queued task was lost (a Redis restart).
        """
        if not self.is_active:
            return None
        now = now or timezone.now()
        limit = timedelta(seconds=settings.RUN_STALL_TIMEOUT_S)
        if self.status == self.Status.QUEUED:
            return self._queued_stall_reason(now, limit)
        if now - (self.last_progress_at or self.created_at) <= limit:
            return None
        return (f"The worker ({self.worker or 'unknown'}) stopped reporting for "
                f"{settings.RUN_STALL_TIMEOUT_S} s: it was probably killed or lost its connection.")

    def _queued_stall_reason(self, now, limit: timedelta) -> str | None:
        if self.node is None:
            return "The node this run was queued on was removed."
        if not self.node.is_online(now):
            seen = self.node.last_heartbeat_at
            return (f"Node {self.node.hostname} is offline: its worker has sent no heartbeat since "
                    f"{seen:%Y-%m-%d %H:%M:%S} UTC." if seen else f"Node {self.node.hostname} never came online.")
        node_progress = self.node.runs.aggregate(latest=models.Max("last_progress_at"))["latest"]
        waiting_since = max(self.created_at, node_progress or self.created_at)
        if now - waiting_since <= limit:
            return None
        return (f"Node {self.node.hostname} is online, but its worker has taken no run and reported no progress "
                f"for {settings.RUN_STALL_TIMEOUT_S} s: its queue consumer is stuck or this run's task was lost "
                "(a Redis restart). Restart the lab (python3 lab.py run) or that node's worker (python3 lab.py worker --cluster NAME) and run this again.")

    def fail_if_stalled(self, now=None) -> bool:
        reason = self.stall_reason(now)
        if reason is None:
            return False
        # Only if nothing changed since we judged it: the worker may have just taken, advanced or
        # finished it.
        updated = ExperimentRun.objects.filter(
            pk=self.pk, status=self.status, last_progress_at=self.last_progress_at,
        ).update(status=self.Status.FAILED, error=reason, finished_at=timezone.now())
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
