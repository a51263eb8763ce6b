"""Events a live class publishes to its channel groups, shared by the senders (views, the
consumer after a vote) and the receiving consumer.

Two audiences: learners (each page is rendered for its own learner: did they vote?) and the
console (the instructor's console and the projector: the same tally HTML for every watcher,
rendered once by the sender, so 200 watchers cost one render).
"""
from dataclasses import asdict, dataclass
from typing import ClassVar

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

LEARNERS, CONSOLE = "learners", "console"


def live_group(cohort_id: int, audience: str) -> str:
    """The one place a live class's group names are built."""
    return f"live.{cohort_id}.{audience}"


@dataclass(frozen=True)
class StateEvent:
    """The step or phase changed: every page renders its own view of the saved state."""

    type: ClassVar[str] = "live.state"
    cohort_id: int

    def to_message(self) -> dict:
        return {"type": self.type, **asdict(self)}

    @classmethod
    def from_message(cls, message: dict) -> "StateEvent":
        return cls(cohort_id=int(message["cohort_id"]))


@dataclass(frozen=True)
class TallyEvent:
    """The answers so far, as the fragment the console and projector swap in."""

    type: ClassVar[str] = "live.tally"
    cohort_id: int
    html: str

    def to_message(self) -> dict:
        return {"type": self.type, **asdict(self)}

    @classmethod
    def from_message(cls, message: dict) -> "TallyEvent":
        return cls(cohort_id=int(message["cohort_id"]), html=str(message["html"]))


def publish(cohort_id: int, audience: str, event) -> None:
    """From sync code (views); the consumer awaits group_send itself."""
    async_to_sync(get_channel_layer().group_send)(live_group(cohort_id, audience), event.to_message())
