"""Events a run publishes to its channel group, shared by the sender (the Celery task) and the
receiver (the websocket consumer) so both agree on every field.

Channel-layer messages are dicts whose ``type`` names the consumer method that handles them
("run.measurement" → ``run_measurement``).
"""

from dataclasses import asdict, dataclass
from typing import ClassVar

from tpworkers.models import ExperimentRun

RUN_TASK = "tpworkers.run_experiment"  # the Celery task that runs a queued run (tpworkers/tasks.py)


def run_group(run_id: int) -> str:
    """The one place a run's group name is built."""
    return f"run.{run_id}"


@dataclass(frozen=True)
class MeasurementEvent:
    type: ClassVar[str] = "run.measurement"
    run_id: int
    seq: int
    data: dict

    def to_message(self) -> dict:
        return {"type": self.type, **asdict(self)}

    @classmethod
    def from_message(cls, message: dict) -> "MeasurementEvent":
        return cls(run_id=int(message["run_id"]), seq=int(message["seq"]), data=dict(message["data"]))


@dataclass(frozen=True)
class StatusEvent:
    type: ClassVar[str] = "run.status"
    run_id: int
    status: str
    error: str = ""

    def to_message(self) -> dict:
        return {"type": self.type, **asdict(self)}

    @classmethod
    def from_message(cls, message: dict) -> "StatusEvent":
        return cls(run_id=int(message["run_id"]), status=str(message["status"]), error=str(message.get("error", "")))


def status_events(run: ExperimentRun) -> list[tuple[str, StatusEvent]]:
    """(group, event) pairs for a run's saved status: its own page, and once it has ended, every
    run still queued behind it on its node, whose queue position just moved."""
    events = [(run_group(run.pk), StatusEvent(run.pk, run.status, run.error))]
    if not run.is_active and run.node_id:
        behind = ExperimentRun.objects.filter(node_id=run.node_id, status=ExperimentRun.Status.QUEUED,
                                              created_at__gt=run.created_at).values_list("pk", flat=True)
        events += [(run_group(pk), StatusEvent(pk, ExperimentRun.Status.QUEUED)) for pk in behind]
    return events
