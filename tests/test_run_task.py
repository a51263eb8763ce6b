"""tasks.run_experiment without real ranks: the experiment runner is replaced in EXPERIMENTS, so
each failure path (a rank that died or hung, a config the node cannot run, a cancel, a stall
failure) is driven directly."""

import dataclasses
import re
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

    warmed = []
    monkeypatch.setattr(tasks, "warm_pool", warmed.append)  # no real ranks in these tests

    def install(fn, experiment="collective_sweep"):
        def run(config, on_record=None, should_stop=lambda: False, timeout_s=0):
            calls.append(config)
            return fn(config, on_record, should_stop)

        replaced = dataclasses.replace(experiments.EXPERIMENTS[experiment], run=run)
        monkeypatch.setitem(experiments.EXPERIMENTS, experiment, replaced)
        return calls

    install.warmed = warmed
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


class LayerRow:
    def __init__(self, compute_us, comm_us):
        self.data = {"kind": "mlp", "forward_us": compute_us + comm_us, "compute_us": compute_us,
                     "comm_us": comm_us, "collectives": 2, "bytes_moved": 1 << 20}

    def to_dict(self):
        return dict(self.data)


def _bar_widths(html):
    return [(float(a), float(b)) for a, b in re.findall(
        r'class="compute" style="width: ([\d.]+)%"></span><span class="comm" style="width: ([\d.]+)%"', html)]


@pytest.mark.django_db
def test_it_redraws_the_earlier_bars_when_a_longer_forward_widens_their_scale(learner, lab_node, publisher, runner):
    """The layer bars share one scale, the longest forward so far: a longer row that streams in
    must bring the earlier ones, redrawn on its scale, as a page loaded now would show them."""
    from tpworkers.forms import LayerForm

    def layers(config, on_record, should_stop):
        for compute, comm in ((400.0, 100.0), (900.0, 100.0), (150.0, 350.0)):  # forwards 500, 1000, 500 µs
            on_record(LayerRow(compute, comm))

    runner(layers, experiment="tp_layer")
    form = LayerForm({**LayerForm.defaults(), "tp_sizes": [1, 2, 4]})
    assert form.is_valid(), form.errors
    run = ExperimentRun.objects.create(owner=learner, node=lab_node, experiment="tp_layer", params=form.run_params())
    tasks.run_experiment(run.pk)
    rows = [(event.seq, _bar_widths(event.html)) for _, event in publisher.sent if isinstance(event, MeasurementEvent)]
    assert rows == [(0, [(80.0, 20.0)]),
                    (1, [(90.0, 10.0)]), (0, [(40.0, 10.0)]),  # the longer row, then the one before it again
                    (2, [(15.0, 35.0)])]  # no longer than the longest: alone


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
    assert [group.nproc for group in runner.warmed] == [2]  # the pool it took down starts again at once


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
def test_it_fails_the_run_in_flight_naming_why_its_worker_is_stopping(learner, make_run, publisher, runner,
                                                                     monkeypatch):
    monkeypatch.setattr(tasks, "_stopping", [])

    def sweep(config, on_record, should_stop):
        on_record(Row(1024))
        tasks.worker_stopping("The lab was stopped (Ctrl-C on python3 lab.py run).")  # Celery's SIGTERM handler
        if should_stop():
            raise SweepCancelled([])
        on_record(Row(4096))

    runner(sweep)
    run = make_run(learner)
    tasks.run_experiment(run.pk)
    run.refresh_from_db()
    assert run.status == "failed"
    assert run.error == "The lab was stopped (Ctrl-C on python3 lab.py run). The rows measured before are kept."
    assert run.measurements.count() == 1


def test_each_size_of_a_sweep_gets_its_own_deadline_from_the_estimate_with_a_floor():
    config = experiments.build_config("collective_sweep", {
        "op": "all_reduce", "nproc": 2, "min_bytes": 1024, "max_bytes": 1 << 30, "factor": 4, "dtype": "float32",
        "warmup": 2, "iters": 10}, gpus_available=0)
    deadline = experiments.step_deadlines("collective_sweep", config, cap_s=600)
    assert deadline(1024) == experiments.DEADLINE_FLOOR_S
    # 13 calls (2 warm-up, 10 timed, 1 check) of a 1 GiB ring all-reduce of 2 ranks at the CPU
    # floor's 1 GB/s take 13 × 1.07 s; the deadline is ten times that
    assert 130 < deadline(1 << 30) < 150
    assert experiments.DEADLINE_FLOOR_S < deadline(1 << 28) < deadline(1 << 30)
    assert experiments.step_deadlines("collective_sweep", config, cap_s=60)(1 << 30) == 60


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
    assert (run_group(behind.pk), StatusEvent(behind.pk, "queued", position=1)) in publisher.sent


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


def test_it_stops_keeping_alive_a_task_silent_longer_than_any_legal_step(transactional_db):
    keep_alive = tasks.KeepAlive(run_id=0, every_s=0.01, max_silent_s=0.05)
    with keep_alive:
        keep_alive.thread.join(timeout=5)
        assert not keep_alive.thread.is_alive()
    assert tasks.MAX_SILENT_S > tasks.RUN_TIMEOUT_S + tasks.START_TIMEOUT_S
