"""The live class's websocket, one URL for both sides: the cohort's instructors (console and
projector) receive the question and the tally; its learners receive their own view of the
step and send their votes (htmx ws-send posts the vote form's fields as JSON).

On connect each side gets the current state after joining its group, so a late joiner or a
reload misses nothing; anyone else is refused with 4403 before accepting. The console's page asks
with ?controls=1 for its buttons too (the projector shows none), so a second instructor's console
follows the phase as the first one presses.

Votes that arrive together share one tally: the first schedules a render TALLY_COALESCE_S
later and the rest ride on it (measured with bench/bench_class.py: one render per vote fell
seconds behind at 100 learners on this 2-core machine). The pending render is dropped before
it reads the votes, so a vote arriving during the render schedules the next one: none is lost.
"""
import asyncio
import json
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.http import QueryDict

from lessons.classroom.models import Cohort
from lessons.liveclass import flow
from lessons.liveclass.events import CONSOLE, LEARNERS, TallyEvent, live_group
from lessons.liveclass.render import console_tally, render_console_state, render_learner

FORBIDDEN = 4403
TALLY_COALESCE_S = 0.15
_pending_tallies: dict[int, asyncio.Task] = {}  # cohort id -> the render scheduled in this process


def _role(user, cohort_id: int) -> tuple[Cohort | None, str | None]:
    cohort = Cohort.objects.filter(pk=cohort_id).first()
    if cohort is None:
        return None, None
    if cohort.is_taught_by(user):
        return cohort, CONSOLE
    if cohort.has_learner(user):
        return cohort, LEARNERS
    return None, None


def as_form(fields: dict) -> QueryDict:
    """What htmx's ws-send sent, as the QueryDict a POSTed form would give (a ticked list
    arrives as a JSON list)."""
    form = QueryDict(mutable=True)
    for name, value in fields.items():
        if name != "HEADERS":
            form.setlist(name, [str(v) for v in value] if isinstance(value, list) else [str(value)])
    return form


def _vote(cohort: Cohort, user, fields: dict) -> tuple[str, bool]:
    """(the learner's new fragment, whether the tally changed)."""
    try:
        flow.vote_now(cohort, user, as_form(fields))
    except flow.LiveRefused as exc:
        return render_learner(cohort, user, error=str(exc)), False
    return render_learner(cohort, user), True


async def _send_tally_soon(channel_layer, cohort: Cohort) -> None:
    if cohort.pk in _pending_tallies:
        return

    async def later():
        await asyncio.sleep(TALLY_COALESCE_S)
        del _pending_tallies[cohort.pk]
        tally = await database_sync_to_async(console_tally)(cohort)
        await channel_layer.group_send(live_group(cohort.pk, CONSOLE), TallyEvent(cohort.pk, tally).to_message())

    _pending_tallies[cohort.pk] = asyncio.create_task(later())


class LiveConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        cohort_id = int(self.scope["url_route"]["kwargs"]["cohort_id"])
        self.cohort, self.role = await database_sync_to_async(_role)(self.scope["user"], cohort_id)
        if self.role is None:
            await self.close(code=FORBIDDEN)
            return
        self.group = live_group(cohort_id, self.role)
        query = parse_qs(self.scope.get("query_string", b"").decode())
        self.controls = self.role == CONSOLE and query.get("controls") == ["1"]
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self._send_state()
        if self.role == CONSOLE:
            await self.send(text_data=await database_sync_to_async(console_tally)(self.cohort))

    async def disconnect(self, code):
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        if self.role != LEARNERS:
            return  # the console drives through its forms; only learners send votes
        try:
            fields = json.loads(text_data or "")
        except ValueError:
            fields = None
        if not isinstance(fields, dict):
            return
        fragment, changed = await database_sync_to_async(_vote)(self.cohort, self.scope["user"], fields)
        await self.send(text_data=fragment)
        if changed:
            await _send_tally_soon(self.channel_layer, self.cohort)

    async def live_state(self, message):
        # The event only says that something changed: each page renders the saved state for its user.
        await self._send_state()

    async def live_tally(self, message):
        await self.send(text_data=TallyEvent.from_message(message).html)

    async def _send_state(self):
        if self.role == CONSOLE:
            fragment = await database_sync_to_async(render_console_state)(self.cohort, self.controls)
        else:
            fragment = await database_sync_to_async(render_learner)(self.cohort, self.scope["user"])
        await self.send(text_data=fragment)
