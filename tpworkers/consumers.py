"""The websocket a run page listens on. It sends HTML fragments that htmx swaps in by id.

On connect it sends a snapshot of the run (status and every row measured so far) after joining
the group, so a page opened or reloaded mid-run misses nothing; rows are replaced by id, so a
row that arrives twice is shown once. After that it only forwards: the sender rendered each
event's fragment once for every watcher (tpworkers/events.py), so a row costs no database read
here, however many learners watch.
"""

import asyncio

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from labapp.origin import same_origin
from tpworkers.events import MeasurementEvent, StatusEvent, row_fragment, run_group, status_event
from tpworkers.models import ExperimentRun
from tpworkers.runs import fail_stalled_runs, run_rows, run_to_watch

FORBIDDEN = 4403


def _status_now(run_id: int) -> StatusEvent:
    """The saved run's status event, after the stall check."""
    fail_stalled_runs(ExperimentRun.objects.filter(pk=run_id))
    return status_event(ExperimentRun.objects.select_related("node").get(pk=run_id))


def _snapshot(run_id: int) -> tuple[StatusEvent, list[str]]:
    """The status, then one fragment per row measured so far."""
    status = _status_now(run_id)
    run = ExperimentRun.objects.get(pk=run_id)
    return status, [row_fragment(run, row["seq"], row["data"]) for row in run_rows(run) if row["data"]]


class _Snapshots:
    """One snapshot read per run for a crowd of watchers connecting at once (a class opening the
    same run): each joins the next read that starts after it joined the group, so it still
    misses no row, and reads of one run take turns. Off the one thread Django's sync code
    shares in this process (thread_sensitive=False), where every socket's login check waits."""

    def __init__(self):
        self.next: dict[int, asyncio.Future] = {}
        self.turns: dict[int, asyncio.Lock] = {}

    async def get(self, run_id: int) -> tuple[StatusEvent, list[str]]:
        future = self.next.get(run_id)
        if future is None:
            future = self.next[run_id] = asyncio.get_running_loop().create_future()
            asyncio.create_task(self._read(run_id, future))
        return await asyncio.shield(future)

    async def _read(self, run_id: int, future: asyncio.Future) -> None:
        turn = self.turns.setdefault(run_id, asyncio.Lock())
        async with turn:
            del self.next[run_id]  # watchers who join from now on need a later read
            try:
                future.set_result(await database_sync_to_async(_snapshot, thread_sensitive=False)(run_id))
            except Exception as exc:
                future.set_exception(exc)
        if run_id not in self.next:
            self.turns.pop(run_id, None)


_snapshots = _Snapshots()


def _watch_interval_s() -> float:
    return max(1.0, settings.RUN_STALL_TIMEOUT_S / 4)


class RunConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        self.run_id = int(self.scope["url_route"]["kwargs"]["run_id"])
        run, may_act = await database_sync_to_async(run_to_watch)(self.scope["user"], self.run_id)
        self.watching = not may_act  # the class watching its instructor's run: no buttons
        if run is None or not same_origin(self.scope):  # another port's page is another origin
            await self.close(code=FORBIDDEN)
            return
        self.group = run_group(self.run_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        status, rows = await _snapshots.get(self.run_id)
        await self._send_status(status)
        for fragment in rows:
            await self.send(text_data=fragment)
        if self._active():
            self.watchdog = asyncio.create_task(self._watch())

    async def disconnect(self, code):
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)
        if hasattr(self, "watchdog"):
            self.watchdog.cancel()

    async def run_measurement(self, message):
        await self.send(text_data=MeasurementEvent.from_message(message).html)

    async def run_status(self, message):
        await self._send_status(StatusEvent.from_message(message))

    async def _send_status(self, event: StatusEvent, only_if_changed: bool = False) -> None:
        if not only_if_changed or event.shown != self.shown:
            await self.send(text_data=event.watcher_html if self.watching else event.html)
        self.shown = event.shown

    def _active(self) -> bool:
        return self.shown[0] in ExperimentRun.ACTIVE

    async def _watch(self):
        """Now and then, send the saved status if it differs from what this socket last sent: a
        killed worker never says so, a restarted one fails its runs, another tab cancels, and a
        Redis restart can drop a group message. Ends once the run has ended."""
        while self._active():
            await asyncio.sleep(_watch_interval_s())
            await self._send_status(await database_sync_to_async(_status_now)(self.run_id), only_if_changed=True)
