"""The websocket a run page listens on. It sends HTML fragments that htmx swaps in by id.

On connect it sends a snapshot of the run (status and every row measured so far) after joining
the group, so a page opened or reloaded mid-run misses nothing; rows are replaced by id, so a
row that arrives twice is shown once.
"""

import asyncio

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.template.loader import render_to_string

from tpworkers.events import MeasurementEvent, StatusEvent, run_group
from tpworkers.models import ExperimentRun
from tpworkers.runs import fail_stalled_runs, run_rows, run_to_watch

FORBIDDEN = 4403


def _status_now(run_id: int) -> tuple[tuple, str]:
    """(what the status fragment shows, the fragment) for the saved run, after the stall check."""
    fail_stalled_runs(ExperimentRun.objects.filter(pk=run_id))
    run = ExperimentRun.objects.select_related("node").get(pk=run_id)
    shown = (run.status, run.error, run.queue_position())
    return shown, render_to_string("tpworkers/run_detail.html#status", {"run": run, "oob": True})


def _render_rows(run_id: int) -> list[str]:
    """One message per measured row: the HTML parser drops a <tr> that is not the first element
    of a fragment, so rows never share a message with anything else."""
    run = ExperimentRun.objects.get(pk=run_id)
    return [render_to_string("tpworkers/run_detail.html#row", {"run": run, "row": row, "oob": True})
            for row in run_rows(run) if row["data"]]


def _render_row(run_id: int, event: MeasurementEvent) -> str:
    run = ExperimentRun.objects.get(pk=run_id)
    labels = run.planned_rows()
    row = {"seq": event.seq, "label": labels[event.seq] if event.seq < len(labels) else "", "data": event.data}
    return render_to_string("tpworkers/run_detail.html#row", {"run": run, "row": row, "oob": True})


def _is_active(shown: tuple) -> bool:
    return shown[0] in ExperimentRun.ACTIVE


def _watch_interval_s() -> float:
    return max(1.0, settings.RUN_STALL_TIMEOUT_S / 4)


class RunConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        self.run_id = int(self.scope["url_route"]["kwargs"]["run_id"])
        run = await database_sync_to_async(run_to_watch)(self.scope["user"], self.run_id)
        if run is None:
            await self.close(code=FORBIDDEN)
            return
        self.group = run_group(self.run_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self._send_status(self.run_id)
        for fragment in await database_sync_to_async(_render_rows)(self.run_id):
            await self.send(text_data=fragment)
        if _is_active(self.shown):
            self.watchdog = asyncio.create_task(self._watch())

    async def disconnect(self, code):
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)
        if hasattr(self, "watchdog"):
            self.watchdog.cancel()

    async def run_measurement(self, message):
        event = MeasurementEvent.from_message(message)
        await self.send(text_data=await database_sync_to_async(_render_row)(self.run_id, event))

    async def run_status(self, message):
        # The status fragment also shows the queue position and actions, so render the saved run.
        event = StatusEvent.from_message(message)
        await self._send_status(event.run_id)

    async def _send_status(self, run_id: int, only_if_changed: bool = False) -> None:
        shown, fragment = await database_sync_to_async(_status_now)(run_id)
        if not only_if_changed or shown != self.shown:
            await self.send(text_data=fragment)
        self.shown = shown

    async def _watch(self):
        """Now and then, send the saved status if it differs from what this socket last sent: a
        killed worker never says so, a restarted one fails its runs, another tab cancels, and a
        Redis restart can drop a group message. Ends once the run has ended."""
        while _is_active(self.shown):
            await asyncio.sleep(_watch_interval_s())
            await self._send_status(self.run_id, only_if_changed=True)
