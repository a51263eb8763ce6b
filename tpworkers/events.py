"""Events a run publishes to its channel group, shared by the sender (the Celery task or a web
request) and the receiver (the websocket consumer) so both agree on every field.

Channel-layer messages are dicts whose ``type`` names the consumer method that handles them
("run.measurement" → ``run_measurement``). Each event carries its HTML fragment, rendered once
by the sender: a run watched by a whole class costs one render and one Redis message per row
per web process, not one database read and render per watcher. The fragments hold nothing per
user (no CSRF token: the page supplies its own); the status comes in two, the one with the run's
buttons for those who may press them and one without for the class watching an instructor's run
(a learner's Cancel would only answer 404).
"""

from dataclasses import asdict, dataclass, field
from typing import ClassVar

from django.template.loader import render_to_string

from tpworkers.models import ExperimentRun
from tpworkers.templatetags.split_bars import longest_forward

RUN_TASK = "tpworkers.run_experiment"  # the Celery task that runs a queued run (tpworkers/tasks.py)
PAGE = "tpworkers/run_detail.html"


def run_group(run_id: int) -> str:
    """The one place a run's group name is built."""
    return f"run.{run_id}"


@dataclass(frozen=True)
class MeasurementEvent:
    type: ClassVar[str] = "run.measurement"
    run_id: int
    seq: int
    html: str = field(default="", compare=False)

    def to_message(self) -> dict:
        return {"type": self.type, **asdict(self)}

    @classmethod
    def from_message(cls, message: dict) -> "MeasurementEvent":
        return cls(run_id=int(message["run_id"]), seq=int(message["seq"]), html=str(message.get("html", "")))


@dataclass(frozen=True)
class StatusEvent:
    type: ClassVar[str] = "run.status"
    run_id: int
    status: str
    error: str = ""
    position: int | None = None  # in the node's queue, while queued
    html: str = field(default="", compare=False)
    watcher_html: str = field(default="", compare=False)  # the same, without Cancel or Re-run

    def to_message(self) -> dict:
        return {"type": self.type, **asdict(self)}

    @classmethod
    def from_message(cls, message: dict) -> "StatusEvent":
        position = message.get("position")
        return cls(run_id=int(message["run_id"]), status=str(message["status"]), error=str(message.get("error", "")),
                   position=None if position is None else int(position), html=str(message.get("html", "")),
                   watcher_html=str(message.get("watcher_html", "")))

    @property
    def shown(self) -> tuple:
        """What the status fragment shows: a watcher resends the saved status only when this differs."""
        return self.status, self.error, self.position


def row_fragment(run: ExperimentRun, seq: int, data: dict | None) -> str:
    """One measured row, swapped in by id. One message per row: the HTML parser drops a <tr>
    that is not the first element of a fragment."""
    labels = run.planned_rows()
    row = {"seq": seq, "label": labels[seq] if seq < len(labels) else "", "data": data}
    return render_to_string(f"{PAGE}#row", {"run": run, "row": row, "oob": True})


def measurement_event(run: ExperimentRun, seq: int, data: dict) -> MeasurementEvent:
    return MeasurementEvent(run.pk, seq, row_fragment(run, seq, data))


def measurement_events(run: ExperimentRun, seq: int, data: dict) -> list[MeasurementEvent]:
    """The measured row (saved already); and when it is a layer forward longer than every one
    before it, those rows again: the layer bars share one scale, the longest forward
    (templatetags/split_bars.py), so the earlier bars are redrawn on the new one, as a page
    loaded now would draw them. Rows arrive longest first more often than not (TP=1 first)."""
    events = [measurement_event(run, seq, data)]
    if run.experiment == "tp_layer":
        earlier = list(run.measurements.exclude(seq=seq))
        if earlier and longest_forward([data]) > longest_forward(earlier):
            events += [measurement_event(run, row.seq, row.data) for row in earlier]
    return events


def status_event(run: ExperimentRun) -> StatusEvent:
    """The saved status of ``run``, with its fragments (queue position included; the run's
    buttons in one, not in the watchers' one)."""
    position = run.queue_position()
    html, watcher_html = (render_to_string(f"{PAGE}#status", {"run": run, "oob": True, "watching": watching})
                          for watching in (False, True))
    return StatusEvent(run.pk, run.status, run.error, position, html, watcher_html)


def status_events(run: ExperimentRun) -> list[tuple[str, StatusEvent]]:
    """(group, event) pairs for a run's saved status: its own page, and once it has ended, every
    run still queued behind it on its node, whose queue position just moved."""
    events = [(run_group(run.pk), status_event(run))]
    if not run.is_active and run.node_id:
        behind = ExperimentRun.objects.select_related("node").filter(
            node_id=run.node_id, status=ExperimentRun.Status.QUEUED, created_at__gt=run.created_at)
        events += [(run_group(other.pk), status_event(other)) for other in behind]
    return events
