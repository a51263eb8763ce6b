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

from labapp.roles import can_see_owned
from tpworkers.events import MeasurementEvent, StatusEvent, run_group
from tpworkers.models import ExperimentRun

FORBIDDEN = 4403


def _get_run_for_user(user, run_id: int) -> ExperimentRun | None:
    run = ExperimentRun.objects.filter(pk=run_id).first()
    if run is None or not can_see_owned(user, run.owner_id):
        return None
    return run


def _render_snapshot(run_id: int) -> list[str]:
    """The status, then one message per measured row: the HTML parser drops a <tr> that is not
    the first element of a fragment, so rows never share a message with anything else."""
    from tpworkers.views import run_rows

    run = ExperimentRun.objects.select_related("node").get(pk=run_id)
    run.fail_if_stalled()
    rows = [
        render_to_string("tpworkers/run_detail.html#row", {"run": run, "row": row, "oob": True})
        for row in run_rows(run) if row["data"]
    ]
    return [_render_status(run), *rows]


def _render_status(run: ExperimentRun) -> str:
    return render_to_string("tpworkers/run_detail.html#status", {"run": run, "oob": True})


def _render_row(run_id: int, event: MeasurementEvent) -> str:
    run = ExperimentRun.objects.get(pk=run_id)
    labels = run.planned_rows()
    row = {"seq": event.seq, "label": labels[event.seq] if event.seq < len(labels) else "", "data": event.data}
    return render_to_string("tpworkers/run_detail.html#row", {"run": run, "row": row, "oob": True})


def _check_stalled(run_id: int) -> str | None:
    """The status fragment if the run was just declared stalled, else None."""
    run = ExperimentRun.objects.get(pk=run_id)
    return _render_status(run) if run.fail_if_stalled() else None


class RunConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        self.run_id = int(self.scope["url_route"]["kwargs"]["run_id"])
        run = await database_sync_to_async(_get_run_for_user)(self.scope["user"], self.run_id)
        if run is None:
            await self.close(code=FORBIDDEN)
            return
        self.group = run_group(self.run_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        for fragment in await database_sync_to_async(_render_snapshot)(self.run_id):
            await self.send(text_data=fragment)
        self.watchdog = asyncio.create_task(self._watch_for_stall())

    async def disconnect(self, code):
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)
        if hasattr(self, "watchdog"):
            self.watchdog.cancel()

    async def run_measurement(self, message):
        event = MeasurementEvent.from_message(message)
        await self.send(text_data=await database_sync_to_async(_render_row)(self.run_id, event))

    async def run_status(self, message):
        event = StatusEvent.from_message(message)
        # The status fragment also shows the queue position and actions, so render the saved run.
        run = await database_sync_to_async(ExperimentRun.objects.select_related("node").get)(pk=event.run_id)
        await self.send(text_data=await database_sync_to_async(_render_status)(run))

    async def _watch_for_stall(self):
        """A killed worker never says so: check now and then, and end the spinner ourselves."""
        interval = max(1.0, settings.RUN_STALL_TIMEOUT_S / 4)
        while True:
            await asyncio.sleep(interval)
            fragment = await database_sync_to_async(_check_stalled)(self.run_id)
            if fragment:
                await self.send(text_data=fragment)
