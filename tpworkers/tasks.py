"""Celery tasks: validate, call the plain experiment modules, save each row, publish it."""

import itertools
import logging

from celery import shared_task

from tpworkers.collectives import ConfigError, SweepCancelled, run_sweep
from tpworkers.events import MeasurementEvent, StatusEvent, run_group
from tpworkers.launcher import RankFailed
from tpworkers.models import ExperimentRun
from tpworkers.publisher import get_publisher
from tpworkers.runparams import describe_group, sweep_config

log = logging.getLogger(__name__)

RUN_TIMEOUT_S = 600


@shared_task(name="tpworkers.run_experiment", bind=True)
def run_experiment(self, run_id: int) -> None:
    run = ExperimentRun.objects.filter(pk=run_id, status=ExperimentRun.Status.QUEUED).first()
    if run is None:
        return  # already taken, cancelled or failed: a re-delivered task must not run it twice
    publisher = get_publisher()
    group = run_group(run.pk)

    def finish(status: str, error: str = "", transport: str = "") -> None:
        run.finish(status, error, transport)
        publisher.publish(group, StatusEvent(run.pk, run.status, run.error))
        publisher.flush()

    try:
        config = sweep_config(run.params)
        config.validate()
    except (ConfigError, KeyError, ValueError) as exc:
        finish(ExperimentRun.Status.FAILED, f"Invalid parameters: {exc}")
        return
    run.mark_running(worker=self.request.hostname or "local", device_group=describe_group(config))
    publisher.publish(group, StatusEvent(run.pk, run.status))

    # Rows arrive in the order of the planned sizes (all-gather may round a size down to a
    # multiple of the ranks, so the row number, not the size, identifies the row).
    row_numbers = itertools.count()

    def on_record(measurement) -> None:
        data = measurement.to_dict()
        seq = next(row_numbers)
        run.record(seq, data)
        publisher.publish(group, MeasurementEvent(run.pk, seq, data))

    def should_stop() -> bool:
        return ExperimentRun.objects.filter(pk=run.pk, cancel_requested=True).exists()

    try:
        result = run_sweep(config, on_record=on_record, should_stop=should_stop, timeout_s=RUN_TIMEOUT_S)
    except SweepCancelled:
        finish(ExperimentRun.Status.CANCELLED, "Cancelled before it finished.")
    except (RankFailed, ConfigError) as exc:
        finish(ExperimentRun.Status.FAILED, str(exc))
    except Exception as exc:  # the page must say why, whatever happened
        log.exception("run %s failed", run.pk)
        finish(ExperimentRun.Status.FAILED, f"Unexpected error: {exc!r}")
    else:
        finish(ExperimentRun.Status.DONE, transport=result.transport or "")
