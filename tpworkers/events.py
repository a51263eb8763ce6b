"""Events a run publishes to its channel group, shared by the sender (the Celery task) and the
receiver (the websocket consumer) so both agree on every field.

Channel-layer messages are dicts whose ``type`` names the consumer method that handles them
("run.measurement" → ``run_measurement``).
"""

from dataclasses import asdict, dataclass
from typing import ClassVar


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
