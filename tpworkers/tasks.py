"""Celery tasks: validate, call the plain experiment modules, save each row, publish it."""

import itertools
import logging

from celery import shared_task

from tpworkers.devicegroup import ConfigError
from tpworkers.events import MeasurementEvent, StatusEvent, run_group
from tpworkers.launcher import RankFailed, SweepCancelled
from tpworkers.models import ExperimentRun
from tpworkers.publisher import get_publisher
from tpworkers.runparams import EXPERIMENTS, build_config, describe_group

log = logging.getLogger(__name__)

RUN_TIMEOUT_S = 600  # per step handed to the ranks; a hung rank is named after this


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
        config = build_config(run.experiment, run.params)
    except (ConfigError, KeyError, ValueError) as exc:
        finish(ExperimentRun.Status.FAILED, f"Invalid parameters: {exc}")
        return
    run.mark_running(worker=self.request.hostname or "local", device_group=describe_group(config))
    publisher.publish(group, StatusEvent(run.pk, run.status))

    # Rows arrive in plan order (all-gather may round a size down to a multiple of the ranks,
    # so the row number, not the size, identifies the row); a cumulative experiment keeps one.
    row_numbers = itertools.repeat(0) if EXPERIMENTS[run.experiment].cumulative else itertools.count()

    def on_record(record) -> None:
        data = record.to_dict()
        seq = next(row_numbers)
        run.record(seq, data)
        publisher.publish(group, MeasurementEvent(run.pk, seq, data))

    def should_stop() -> bool:
        return ExperimentRun.objects.filter(pk=run.pk, cancel_requested=True).exists()

    try:
        result = EXPERIMENTS[run.experiment].run(config, on_record=on_record, should_stop=should_stop,
                                                 timeout_s=RUN_TIMEOUT_S)
    except SweepCancelled:
        finish(ExperimentRun.Status.CANCELLED, "Cancelled while running; the rows measured before are kept.")
    except (RankFailed, ConfigError) as exc:
        finish(ExperimentRun.Status.FAILED, str(exc))
    except Exception as exc:  # the page must say why, whatever happened
        log.exception("run %s failed", run.pk)
        finish(ExperimentRun.Status.FAILED, f"Unexpected error: {exc!r}")
    else:
        finish(ExperimentRun.Status.DONE, transport=getattr(result, "transport", None) or "")
