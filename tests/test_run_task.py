"""tasks.run_experiment without real ranks: the experiment runner is replaced in EXPERIMENTS, so
each failure path (a rank that died or hung, a config the node cannot run, a cancel, a stall
failure) is driven directly."""

import dataclasses
import time

import pytest

from tpworkers import experiments
from tpworkers import tasks
from tpworkers.measure.collectives import SweepCancelled
from tpworkers.measure.devicegroup import ConfigError
from tpworkers.events import MeasurementEvent, StatusEvent, run_group
from tpworkers.measure.launcher import RankFailed
from tpworkers.models import ExperimentRun
from tpworkers.runs import cancel


class RecordingPublisher:
    def __init__(self):
        self.sent = []

    def publish(self, group, event):
        self.sent.append((group, event))

    def flush(self, timeout_s=10.0):
        pass


class Row:
    def __init__(self, size):
        self.size = size

    def to_dict(self):
        return {"size_bytes": self.size, "time_us": 1.0}


@pytest.fixture
def publisher(monkeypatch):
    recording = RecordingPublisher()
    monkeypatch.setattr(tasks, "get_publisher", lambda: recording)
    monkeypatch.setattr(experiments, "cuda_device_count", lambda: 0)  # this node: CPU only
    return recording


@pytest.fixture
def runner(monkeypatch):
    """Install a fake sweep runner: runner(fn) makes fn(config, on_record, should_stop) the run."""
    calls = []

    def install(fn):
        def run(config, on_record=None, should_stop=lambda: False, timeout_s=0):
            calls.append(config)
            return fn(config, on_record, should_stop)

        experiment = experiments.EXPERIMENTS["collective_sweep"]
        monkeypatch.setitem(experiments.EXPERIMENTS, "collective_sweep", dataclasses.replace(experiment, run=run))
        return calls

    return install


def _statuses(publisher, run):
    return [event.status for group, event in publisher.sent if group == run_group(run.pk) and isinstance(event, StatusEvent)]


@pytest.mark.django_db
def test_it_saves_and_publishes_each_row_then_done(learner, make_run, publisher, runner):
    def sweep(config, on_record, should_stop):
        for size in (1024, 4096):
            should_stop()
            on_record(Row(size))

    runner(sweep)
    run = make_run(learner)
    tasks.run_experiment(run.pk)
    run.refresh_from_db()
    assert run.status == "done" and run.worker == "local" and run.device_group == "gloo on CPU, 2 ranks"
    assert [m.data["size_bytes"] for m in run.measurements.all()] == [1024, 4096]
    rows = [event.seq for _, event in publisher.sent if isinstance(event, MeasurementEvent)]
    assert rows == [0, 1] and _statuses(publisher, run) == ["running", "done"]


@pytest.mark.django_db
def test_it_fails_a_run_whose_rank_died_naming_the_rank_and_cause(learner, make_run, publisher, runner):
    def sweep(config, on_record, should_stop):
        on_record(Row(1024))
        raise RankFailed((1,), "died: killed by SIGKILL (exit code -9)")

    runner(sweep)
    run = make_run(learner)
    tasks.run_experiment(run.pk)
    run.refresh_from_db()
    assert run.status == "failed" and run.error == "rank 1 died: killed by SIGKILL (exit code -9)"
    assert run.measurements.count() == 1  # what was measured before stays
    assert _statuses(publisher, run)[-1] == "failed"


@pytest.mark.django_db
def test_it_fails_a_run_asking_for_a_gpu_the_node_lacks_before_starting_ranks(learner, make_run, publisher, runner):
    calls = runner(lambda config, on_record, should_stop: None)
    run = make_run(learner)
    ExperimentRun.objects.filter(pk=run.pk).update(params={**run.params, "gpus": [5, 6]})
    tasks.run_experiment(run.pk)
    run.refresh_from_db()
    assert run.status == "failed"
    assert run.error == "Invalid parameters: GPU 5 was asked for, but this node has 0 GPUs"
    assert calls == [] and run.started_at is None
    assert _statuses(publisher, run) == ["failed"]


@pytest.mark.django_db
def test_it_fails_a_run_the_experiment_refuses_with_its_reason(learner, make_run, publisher, runner):
    def sweep(config, on_record, should_stop):
        raise ConfigError("the nccl backend needs device='cuda': NCCL moves GPU memory only")

    runner(sweep)
    run = make_run(learner)
    tasks.run_experiment(run.pk)
    run.refresh_from_db()
    assert run.status == "failed" and "NCCL moves GPU memory only" in run.error


@pytest.mark.django_db
def test_it_cancels_after_the_row_in_flight_and_keeps_the_rows(learner, make_run, publisher, runner, memory_layer):
    def sweep(config, on_record, should_stop):
        measured = []
        for size in (1024, 4096, 16384):
            if should_stop():
                raise SweepCancelled(measured)
            on_record(Row(size))
            measured.append(size)
            cancel(ExperimentRun.objects.get(pk=run.pk))  # the learner presses Cancel mid-run

    runner(sweep)
    run = make_run(learner)
    tasks.run_experiment(run.pk)
    run.refresh_from_db()
    assert run.status == "cancelled" and "rows measured before are kept" in run.error
    assert run.measurements.count() == 1


@pytest.mark.django_db
def test_it_stops_measuring_a_run_the_stall_check_failed_and_keeps_that_failure(learner, make_run, publisher,
                                                                                 runner):
    def sweep(config, on_record, should_stop):
        ExperimentRun.objects.filter(pk=run.pk).update(status="failed", error="The worker stopped reporting")
        if should_stop():
            raise SweepCancelled([])
        on_record(Row(1024))

    runner(sweep)
    run = make_run(learner)
    tasks.run_experiment(run.pk)
    run.refresh_from_db()
    assert run.status == "failed" and run.error == "The worker stopped reporting"
    assert run.measurements.count() == 0
    assert _statuses(publisher, run)[-1] == "failed"  # the page hears what is saved


@pytest.mark.django_db
@pytest.mark.parametrize("status", ["running", "cancelled", "failed"])
def test_it_does_not_run_a_run_that_is_no_longer_queued(learner, make_run, publisher, runner, status):
    calls = runner(lambda config, on_record, should_stop: None)
    run = make_run(learner)
    ExperimentRun.objects.filter(pk=run.pk).update(status=status)
    tasks.run_experiment(run.pk)
    assert calls == [] and publisher.sent == []
    assert ExperimentRun.objects.get(pk=run.pk).status == status


@pytest.mark.django_db
def test_it_does_not_start_a_run_cancelled_while_its_config_was_built(learner, make_run, publisher, runner,
                                                                    monkeypatch, memory_layer):
    calls = runner(lambda config, on_record, should_stop: None)
    run = make_run(learner)
    build = tasks.build_config

    def build_while_the_learner_cancels(experiment, params):
        cancel(ExperimentRun.objects.get(pk=run.pk))
        return build(experiment, params)

    monkeypatch.setattr(tasks, "build_config", build_while_the_learner_cancels)
    tasks.run_experiment(run.pk)
    run.refresh_from_db()
    assert run.status == "cancelled" and calls == []


@pytest.mark.django_db
def test_it_tells_the_runs_queued_behind_that_their_position_moved(learner, other_learner, make_run, publisher,
                                                                   runner):
    runner(lambda config, on_record, should_stop: None)
    first, behind = make_run(learner), make_run(other_learner)
    tasks.run_experiment(first.pk)
    assert (run_group(behind.pk), StatusEvent(behind.pk, "queued")) in publisher.sent


@pytest.mark.django_db(transaction=True)
def test_it_keeps_a_long_step_alive_so_the_pools_hung_rank_reason_wins(learner, make_run, publisher, runner,
                                                                       settings):
    settings.RUN_STALL_TIMEOUT_S = 5
    settings.NODE_HEARTBEAT_S = 0.05
    run = make_run(learner)
    verdicts = []

    def sweep(config, on_record, should_stop):
        should_stop()
        # A step longer than the stall timeout: nothing reported for 6 s, as far as the database knows ...
        silent_since = ExperimentRun.objects.get(pk=run.pk).last_progress_at
        ExperimentRun.objects.filter(pk=run.pk).update(last_progress_at=silent_since.replace(year=2000))
        time.sleep(0.5)  # ... while the worker's keep-alive beats
        verdicts.append(ExperimentRun.objects.select_related("node").get(pk=run.pk).fail_if_stalled())
        raise RankFailed((1,), "did not finish measure_size within 600 s (hung?)")

    runner(sweep)
    tasks.run_experiment(run.pk)
    run.refresh_from_db()
    assert verdicts == [False]
    assert run.status == "failed" and run.error == "rank 1 did not finish measure_size within 600 s (hung?)"


def test_it_stops_keeping_alive_a_task_silent_longer_than_any_legal_step(db):
    keep_alive = tasks.KeepAlive(run_id=0, every_s=0.01, max_silent_s=0.05)
    with keep_alive:
        keep_alive.thread.join(timeout=5)
        assert not keep_alive.thread.is_alive()
    assert tasks.MAX_SILENT_S > tasks.RUN_TIMEOUT_S + tasks.START_TIMEOUT_S
