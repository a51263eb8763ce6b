"""Celery tasks: validate, call the plain experiment modules, save each row, publish it.

The timeouts, and why a slow step is not called stalled:

- Each step handed to the ranks (one size, one TP forward set, one decode step) has its own
  deadline from the run's estimate (experiments.step_deadlines: 10× the step's pessimistic
  estimate, at least 30 s), capped by RUN_TIMEOUT_S (600 s); the rank pool's start timeout (180 s,
  launcher.START_TIMEOUT_S) bounds starting the ranks, and its heartbeat names a stopped rank
  within seconds. A rank that exceeds any of them is named in RankFailed ("rank 1 stopped
  answering …", "rank 1 did not finish … (hung?)"), and that precise reason is what the page shows.
- should_stop() is asked between steps and every second during one, so a Cancel ends even a
  hung step within seconds (the pool kills its ranks), and a worker told to shut down (Ctrl-C
  on the lab, a part restarted) fails its run with the reason it was given (worker_stopping).
- While the task runs, KeepAlive refreshes the run's last_progress_at from a thread every
  NODE_HEARTBEAT_S (10 s), or more often if the stall timeout is short (four beats at least per
  timeout), so the page's stall check (RUN_STALL_TIMEOUT_S, 120 s: twelve missed beats) fires
  only when the worker process is gone — killed, or cut off from the database — and never
  pre-empts the pool's own, longer step timeouts.
- KeepAlive stops refreshing once the task has been silent for a whole step plus the start
  timeout and a minute (MAX_SILENT_S, 840 s): by then the pool would have raised, so the worker
  itself is stuck, and the stall check may say so 120 s later.
"""

import itertools
import logging
import threading
import time

from celery import shared_task
from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection
from django.utils import timezone

from labapp.dbretry import retry_locked
from tpworkers.events import RUN_TASK, measurement_events, run_group, status_event, status_events
from tpworkers.experiments import EXPERIMENTS, build_config, device_fields, step_deadlines
from tpworkers.measure.devicegroup import ConfigError
from tpworkers.measure.launcher import START_TIMEOUT_S, RankFailed, SweepCancelled, warm_pool
from tpworkers.models import ExperimentRun
from tpworkers.publisher import get_publisher

log = logging.getLogger(__name__)

RUN_TIMEOUT_S = 600
MAX_SILENT_S = START_TIMEOUT_S + RUN_TIMEOUT_S + 60


_stopping: list[str] = []  # why this worker is shutting down, once it is


def worker_stopping(reason: str) -> None:
    """This worker is shutting down: the run in flight stops within a second and fails saying why."""
    _stopping.append(reason)


class KeepAlive:
    """Refreshes a running run's last_progress_at every `every_s` from a thread, until stopped or
    until the task has been silent (no step started or finished) for `max_silent_s`."""

    def __init__(self, run_id: int, every_s: float, max_silent_s: float):
        self.run_id, self.every_s, self.max_silent_s = run_id, every_s, max_silent_s
        self.last_sign_of_life = time.monotonic()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, name=f"keepalive-run-{run_id}", daemon=True)

    def alive(self) -> None:
        """The task started or finished a step."""
        self.last_sign_of_life = time.monotonic()

    def _serve(self) -> None:
        try:
            while not self.stopped.wait(self.every_s):
                if time.monotonic() - self.last_sign_of_life > self.max_silent_s:
                    log.warning("run %s: no step began or ended in %s s; no longer keeping it alive",
                                self.run_id, self.max_silent_s)
                    return
                try:
                    ExperimentRun.objects.filter(pk=self.run_id, status=ExperimentRun.Status.RUNNING).update(
                        last_progress_at=timezone.now())
                except DatabaseError:
                    log.exception("run %s: could not refresh its progress time", self.run_id)
                    close_old_connections()  # a restarted database: reconnect on the next beat
        finally:
            connection.close()  # this thread's own connection

    def __enter__(self) -> "KeepAlive":
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stopped.set()
        self.thread.join()


@shared_task(name=RUN_TASK, bind=True)
def run_experiment(self, run_id: int) -> None:
    run = ExperimentRun.objects.filter(pk=run_id).first()
    if run is None or run.status != ExperimentRun.Status.QUEUED:
        return  # cancelled, failed or already taken: a re-delivered task must not run it again
    publisher = get_publisher()
    group = run_group(run.pk)

    def finish(status: str, error: str = "", transport: str = "", expected=ExperimentRun.Status.RUNNING) -> None:
        # Publish what is saved: if the run was already cancelled or failed, that stays.
        retry_locked(run.finish, status, error, transport, expected=expected)
        for target, event in status_events(run):
            publisher.publish(target, event)
        publisher.flush()

    try:
        config = build_config(run.experiment, run.params)
    except (ConfigError, KeyError, ValueError) as exc:
        finish(ExperimentRun.Status.FAILED, f"Invalid parameters: {exc}", expected=ExperimentRun.Status.QUEUED)
        return
    if not retry_locked(run.mark_running, worker=self.request.hostname or "local", devices=device_fields(config)):
        return  # cancelled (or taken by another delivery) while the config was built
    publisher.publish(group, status_event(run))

    # Rows arrive in plan order (all-gather may round a size down to a multiple of the ranks,
    # so the row number, not the size, identifies the row); a cumulative experiment keeps one.
    row_numbers = itertools.repeat(0) if EXPERIMENTS[run.experiment].cumulative else itertools.count()

    beat_s = min(settings.NODE_HEARTBEAT_S, settings.RUN_STALL_TIMEOUT_S / 4)
    with KeepAlive(run.pk, every_s=beat_s, max_silent_s=MAX_SILENT_S) as keep_alive:
        def on_record(record) -> None:
            keep_alive.alive()
            data = record.to_dict()
            seq = next(row_numbers)
            retry_locked(run.record, seq, data)
            for event in measurement_events(run, seq, data):
                publisher.publish(group, event)  # rendered once, for every watcher

        def should_stop() -> bool:
            """Cancelled, no longer running at all (failed by a stall check), or the worker is
            shutting down: stop measuring."""
            keep_alive.alive()
            return bool(_stopping) or not retry_locked(ExperimentRun.objects.filter(
                pk=run.pk, status=ExperimentRun.Status.RUNNING, cancel_requested=False).exists)

        try:
            result = EXPERIMENTS[run.experiment].run(config, on_record=on_record, should_stop=should_stop,
                                                     timeout_s=step_deadlines(run.experiment, config, RUN_TIMEOUT_S))
        except SweepCancelled:
            if _stopping:
                finish(ExperimentRun.Status.FAILED, f"{_stopping[0]} The rows measured before are kept.")
            else:
                finish(ExperimentRun.Status.CANCELLED, "Cancelled while running; the rows measured before are kept.")
        except RankFailed as exc:
            finish(ExperimentRun.Status.FAILED, str(exc))
            # The failure took the pool down: start it again now, not on the learner's next click.
            warm_pool(config.device_group())
        except ConfigError as exc:
            finish(ExperimentRun.Status.FAILED, str(exc))
        except Exception as exc:  # the page must say why, whatever happened
            log.exception("run %s failed", run.pk)
            finish(ExperimentRun.Status.FAILED, f"Unexpected error: {exc!r}")
        else:
            finish(ExperimentRun.Status.DONE, transport=getattr(result, "transport", None) or "")


def warm_default_pool():
    """Start the ranks a default sweep on this node uses, as the worker starts, so the first
    learner to press "Run" does not wait for them (cold: 1.1–4 s; warm: under 0.1 s)."""
    from tpworkers.forms import SweepForm

    form = SweepForm(SweepForm.defaults())
    if not form.is_valid():
        log.warning("the default sweep is not valid here (%s); no pool warmed", form.errors.as_text())
        return None
    return warm_pool(build_config(SweepForm.experiment, form.run_params()).device_group())
