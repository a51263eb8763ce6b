"""When an active run is called failed: a queued run waits behind a live worker, however long;
it fails when its node is offline or when the online node's worker has stopped making
progress."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tpworkers.models import ExperimentRun
from tests.support_runs import cpu_ranks

pytestmark = pytest.mark.django_db


def _set(run, **fields):
    ExperimentRun.objects.filter(pk=run.pk).update(**fields)
    run.refresh_from_db()


def test_it_lets_a_queued_run_wait_behind_a_long_run_that_is_alive(learner, other_learner, make_run, settings):
    settings.RUN_STALL_TIMEOUT_S = 120
    long_run = make_run(other_learner)
    waiting = make_run(learner)
    now = timezone.now()
    long_run.mark_running(worker="tplab@testnode", devices=cpu_ranks(2))
    _set(long_run, started_at=now - timedelta(minutes=10), last_progress_at=now - timedelta(seconds=5))
    _set(waiting, created_at=now - timedelta(minutes=10))
    assert waiting.stall_reason() is None
    assert waiting.fail_if_stalled() is False and waiting.status == "queued"


def test_it_fails_a_queued_run_when_the_online_node_made_no_progress(learner, other_learner, make_run, settings):
    settings.RUN_STALL_TIMEOUT_S = 120
    stuck = make_run(other_learner)
    waiting = make_run(learner)
    now = timezone.now()
    stuck.mark_running(worker="tplab@testnode", devices=cpu_ranks(2))
    _set(stuck, last_progress_at=now - timedelta(seconds=121))
    _set(waiting, created_at=now - timedelta(minutes=10))
    assert waiting.fail_if_stalled() is True
    assert waiting.status == "failed"
    assert "Node testnode is online, but its worker has taken no run and reported no progress for 120 s" in waiting.error


def test_it_gives_a_new_run_the_full_timeout_on_an_idle_node(learner, make_run, settings):
    settings.RUN_STALL_TIMEOUT_S = 120
    earlier = make_run(learner)
    earlier.mark_running(worker="tplab@testnode", devices=cpu_ranks(2))
    earlier.finish("done", expected="running")
    _set(earlier, last_progress_at=timezone.now() - timedelta(days=1))
    fresh = make_run(learner)
    assert fresh.fail_if_stalled() is False
    assert fresh.fail_if_stalled(now=fresh.created_at + timedelta(seconds=121)) is True


def test_it_fails_a_queued_run_at_once_when_its_node_is_offline(learner, make_run, lab_node, settings):
    settings.NODE_OFFLINE_AFTER_S = 45
    run = make_run(learner)
    type(lab_node).objects.filter(pk=lab_node.pk).update(last_heartbeat_at=timezone.now() - timedelta(seconds=46))
    run.refresh_from_db()
    assert run.fail_if_stalled() is True
    assert "Node testnode is offline" in run.error


def test_it_fails_a_running_run_whose_worker_stopped_reporting(learner, make_run, settings):
    settings.RUN_STALL_TIMEOUT_S = 120
    run = make_run(learner)
    run.mark_running(worker="tplab@testnode", devices=cpu_ranks(2))
    _set(run, last_progress_at=timezone.now() - timedelta(seconds=119))
    assert run.fail_if_stalled() is False
    _set(run, last_progress_at=timezone.now() - timedelta(seconds=121))
    assert run.fail_if_stalled() is True
    assert "tplab@testnode" in run.error and "stopped reporting for 120 s" in run.error
