"""The lab worker's own duties: registering its node (and failing what its previous process had
in flight), heartbeats that survive a database restart, and staying out of private clusters."""

import logging
import threading
import time

import pytest
from django.core.management.base import CommandError
from django.db import OperationalError

from tpworkers.models import ClusterOwnership
from tpworkers.management.commands import labworker
from tpworkers.models import Cluster, ExperimentRun, Node
from tests.support_runs import cpu_ranks


@pytest.fixture
def published(monkeypatch):
    runs = []
    monkeypatch.setattr(labworker, "publish_status", lambda run: runs.append((run.pk, run.status, run.error)))
    return runs


@pytest.mark.django_db
def test_it_fails_the_runs_a_restarted_worker_had_in_flight_and_tells_their_pages(learner, make_run, lab_node,
                                                                                  published):
    in_flight, waiting = make_run(learner), make_run(learner)
    in_flight.mark_running(worker="tplab@testnode", devices=cpu_ranks(2))
    node = labworker.register_node("local", "testnode")
    assert node == lab_node and node.queue == "node.local.testnode"
    in_flight.refresh_from_db()
    assert in_flight.status == "failed" and "worker restarted while this run was running" in in_flight.error
    assert ExperimentRun.objects.get(pk=waiting.pk).status == "queued"  # its task is still in the queue
    assert published == [(in_flight.pk, "failed", in_flight.error)]


@pytest.mark.django_db
def test_it_fails_runs_in_flight_with_the_cause_its_supervisor_gave(learner, make_run, lab_node, published):
    in_flight = make_run(learner)
    in_flight.mark_running(worker="tplab@testnode", devices=cpu_ranks(2))
    labworker.register_node("local", "testnode", "the lab worker was killed by signal 9 (Killed); the lab restarted it")
    in_flight.refresh_from_db()
    assert in_flight.error == ("The node's worker restarted while this run was running: the lab worker was killed "
                               "by signal 9 (Killed); the lab restarted it")


@pytest.mark.django_db
def test_it_queues_again_from_the_database_every_run_still_waiting_on_its_node(learner, other_learner, make_run,
                                                                              lab_node, published, monkeypatch):
    sent = []
    monkeypatch.setattr(labworker, "queue_run", lambda run: sent.append((run.pk, run.node.queue)))
    first, second, done = make_run(learner), make_run(other_learner), make_run(learner)
    done.finish("done", expected="queued")
    assert labworker.requeue_waiting_runs(lab_node) == [first.pk, second.pk]
    assert sent == [(first.pk, lab_node.queue), (second.pk, lab_node.queue)]


def test_it_says_why_it_stops_as_its_runner_wrote_it_or_names_the_signal(tmp_path, monkeypatch):
    said = tmp_path / "why"
    monkeypatch.setenv("TPLAB_STOP_REASON_FILE", str(said))
    assert labworker.stop_reason("SIGTERM") == "The node's worker was stopped (SIGTERM) while this run was measuring."
    said.write_text("The lab was stopped (Ctrl-C on python3 lab.py run).\n")
    assert labworker.stop_reason("SIGTERM") == "The lab was stopped (Ctrl-C on python3 lab.py run)."


@pytest.mark.django_db
def test_it_refuses_to_join_a_learners_private_cluster(learner, published):
    private = Cluster.objects.create(name="my-rack")
    ClusterOwnership.objects.create(cluster=private, owner=learner)
    with pytest.raises(CommandError, match="'my-rack' is a private cluster that ada added"):
        labworker.register_node("my-rack", "somehost")
    assert not Node.objects.exists()


@pytest.mark.django_db
def test_it_keeps_beating_after_a_database_error_and_drops_the_dead_connection(lab_node, settings, monkeypatch,
                                                                            caplog):
    settings.NODE_HEARTBEAT_S = 0.01
    stop = threading.Event()
    beats, reconnects = [], []

    def beat(node):
        beats.append(node.pk)
        if len(beats) == 1:
            raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(Node, "beat", beat)
    monkeypatch.setattr(labworker, "close_old_connections", lambda: reconnects.append(True))
    heart = threading.Thread(target=labworker.heartbeat_forever, args=(lab_node, stop), daemon=True)
    with caplog.at_level(logging.ERROR):
        heart.start()
        deadline = time.monotonic() + 5
        while len(beats) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        stop.set()
        heart.join(timeout=5)
    assert len(beats) >= 2 and reconnects == [True]
    assert "heartbeat of node testnode failed" in caplog.text
