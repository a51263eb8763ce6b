"""Status changes are conditional: whoever writes second (worker, canceller, stall check) cannot
undo what the first wrote. Each test calls the model in the bad order directly."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tpworkers.models import ExperimentRun
from tpworkers.runs import cancel
from tests.support_runs import cpu_ranks

pytestmark = pytest.mark.django_db


def _age(run, **fields_seconds_ago):
    now = timezone.now()
    ExperimentRun.objects.filter(pk=run.pk).update(
        **{name: now - timedelta(seconds=seconds) for name, seconds in fields_seconds_ago.items()})
    run.refresh_from_db()


def test_it_does_not_start_a_run_cancelled_before_the_worker_claimed_it(learner, make_run, memory_layer):
    run = make_run(learner)
    cancel(run)
    assert run.mark_running(worker="tplab@testnode", devices=cpu_ranks(2)) is False
    run.refresh_from_db()
    assert run.status == "cancelled" and run.started_at is None and run.worker == ""


def test_it_lets_only_one_delivery_of_a_task_claim_the_run(learner, make_run):
    run = make_run(learner)
    second_delivery = ExperimentRun.objects.get(pk=run.pk)
    assert run.mark_running(worker="tplab@first", devices=cpu_ranks(2)) is True
    assert second_delivery.mark_running(worker="tplab@second", devices=cpu_ranks(2)) is False
    assert ExperimentRun.objects.get(pk=run.pk).worker == "tplab@first"


def test_it_does_not_restart_a_failed_run(learner, make_run):
    run = make_run(learner)
    run.finish("failed", "Node testnode is offline")
    assert run.mark_running(worker="tplab@testnode", devices=cpu_ranks(2)) is False
    assert run.status == "failed"


def test_it_keeps_a_stall_failure_when_the_worker_reports_done_late(learner, make_run, settings):
    settings.RUN_STALL_TIMEOUT_S = 30
    run = make_run(learner)
    run.mark_running(worker="tplab@testnode", devices=cpu_ranks(2))
    _age(run, last_progress_at=31)
    assert run.fail_if_stalled() is True
    worker_copy = ExperimentRun.objects.get(pk=run.pk)
    assert worker_copy.finish("done", transport="P2P/CUMEM", expected="running") is False
    assert worker_copy.status == "failed" and "stopped reporting" in worker_copy.error
    assert worker_copy.transport == ""


def test_it_keeps_a_cancel_when_a_late_finish_arrives(learner, make_run, memory_layer):
    run = make_run(learner)
    cancel(run)
    assert run.finish("done") is False
    run.refresh_from_db()
    assert run.status == "cancelled" and run.error == "Cancelled before it started."


def test_it_does_not_fail_a_run_whose_worker_reported_after_the_check_looked(learner, make_run, settings):
    settings.RUN_STALL_TIMEOUT_S = 30
    run = make_run(learner)
    run.mark_running(worker="tplab@testnode", devices=cpu_ranks(2))
    _age(run, last_progress_at=31)
    looked = ExperimentRun.objects.select_related("node").get(pk=run.pk)
    looked.stall_reason()  # the check sees a silent run ...
    run.record(0, {"size_bytes": 1024})  # ... and the worker reports just then
    assert looked.fail_if_stalled(now=looked.last_progress_at + timedelta(seconds=31)) is False
    assert ExperimentRun.objects.get(pk=run.pk).status == "running"
