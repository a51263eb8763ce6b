"""The lab worker of one node.

The database, not the broker, is the truth about which runs wait: a private Redis keeps nothing
across a restart, and a worker killed mid-run took its task with it. So at start the worker fails
the runs its previous process had running (with the reason its supervisor gave, if any) and sends
a task for every run still queued on its node. Sending one twice is harmless: a run is claimed
once (ExperimentRun.mark_running is a conditional update), so a second delivery does nothing.

Environment, set by the lab's runner: TPLAB_RESTART_CAUSE says why the previous worker process
ended; TPLAB_STOP_REASON_FILE, read when this worker is told to shut down, says why (the run in
flight fails with that reason instead of a signal's name).
"""

import logging
import os
import socket
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections
from django.utils import timezone

from celery.signals import worker_shutting_down

from labapp.celery import app
from tpworkers.models import Cluster, ExperimentRun, Node
from tpworkers.runs import publish_status, queue_run
from tpworkers.tasks import warm_default_pool

log = logging.getLogger(__name__)


def register_node(cluster_name: str, hostname: str, restart_cause: str = "") -> Node:
    """Create or refresh this node: its queue, its NVML topology (reported), what it can run.

    Runs this node had in flight died with the previous worker process: say so on each (with
    `restart_cause`, why that process ended, when known), and tell their pages. A worker joins
    shared clusters only, never a learner's private one.
    """
    if "/" in cluster_name:  # "ada/h100-box": learners' private clusters are named under their username
        raise CommandError(f"Cluster {cluster_name!r}: a name with a slash is a learner's private cluster; "
                           "a worker joins only shared clusters. Choose a --cluster name without '/'.")
    import torch

    from tpworkers.diagnose.nvml_probe import probe
    from tpworkers.diagnose.topology import Topology
    from tpworkers.measure.devicegroup import cpu_cores, max_cpu_ranks

    cluster = Cluster.objects.get_or_create(name=cluster_name)[0]
    owner = getattr(getattr(cluster, "ownership", None), "owner", None)
    if owner is not None:
        raise CommandError(f"Cluster {cluster_name!r} is a private cluster that {owner} added on the cluster "
                           "page; a worker joins only shared clusters. Choose another --cluster name.")
    topology = Topology(nodes=[probe(hostname=hostname)])
    node, _ = Node.objects.update_or_create(
        cluster=cluster, hostname=hostname,
        defaults={
            "queue": f"node.{cluster.name}.{hostname}",
            "topology": topology.to_dict(),
            "topology_at": timezone.now(),
            "gpu_count": torch.cuda.device_count() if torch.cuda.is_available() else 0,
            "cpu_ranks": max_cpu_ranks(),
            "cpu_cores": cpu_cores(),
            "torch_version": torch.__version__,
            "last_heartbeat_at": timezone.now(),
        },
    )
    reason = "The node's worker restarted while this run was running"
    reason += f": {restart_cause}" if restart_cause else "."
    for run in node.runs.filter(status=ExperimentRun.Status.RUNNING):
        if run.finish(ExperimentRun.Status.FAILED, reason, expected=ExperimentRun.Status.RUNNING):
            publish_status(run)
    return node


def requeue_waiting_runs(node: Node) -> list[int]:
    """Send a task for every run queued on this node, oldest first; their ids."""
    waiting = list(node.runs.filter(status=ExperimentRun.Status.QUEUED).order_by("created_at", "pk"))
    for run in waiting:
        queue_run(run)
    return [run.pk for run in waiting]


def stop_reason(signal_name: str) -> str:
    """Why this worker is stopping, in words for a run's page: what the runner wrote, if it did."""
    path = os.environ.get("TPLAB_STOP_REASON_FILE", "")
    try:
        with open(path) as said:
            reason = said.read().strip()
    except OSError:
        reason = ""
    return reason or f"The node's worker was stopped ({signal_name}) while this run was measuring."


def heartbeat_forever(node: Node, stop: threading.Event) -> None:
    while not stop.wait(settings.NODE_HEARTBEAT_S):
        try:
            node.beat()
        except Exception:  # a database hiccup must not kill the heartbeat; the next one retries
            log.exception("heartbeat of node %s failed", node.hostname)
            # A restarted database leaves this thread's connection dead: drop it so the next
            # beat reconnects (otherwise the node would show offline for good).
            close_old_connections()


class Command(BaseCommand):
    help = ("Run this node's lab worker: register the node and its topology, send heartbeats, "
            "and run experiments from the node's own queue (Celery, solo pool).")

    def add_arguments(self, parser):
        parser.add_argument("--cluster", default=Cluster.DEFAULT_NAME)
        parser.add_argument("--hostname", default=socket.gethostname())

    def handle(self, *args, cluster, hostname, **options):
        from tpworkers.measure.rankhealth import remove_stale_log_dirs
        from tpworkers.tasks import worker_stopping

        for name in remove_stale_log_dirs():
            self.stdout.write(f"Removed {name}, the rank directory of a worker that was killed")
        node = register_node(cluster, hostname, os.environ.get("TPLAB_RESTART_CAUSE", ""))
        self.stdout.write(f"Node {hostname} of cluster {cluster!r} consumes queue {node.queue}")
        requeued = requeue_waiting_runs(node)
        if requeued:
            self.stdout.write(f"Queued again from the database: runs {', '.join(map(str, requeued))}")
        # Runs in the worker's main thread, from Celery's SIGTERM/SIGINT handler.
        worker_shutting_down.connect(lambda sig, **kwargs: worker_stopping(stop_reason(sig)), weak=False)
        stop = threading.Event()
        threading.Thread(target=heartbeat_forever, args=(node, stop), daemon=True, name="heartbeat").start()
        warm_default_pool()  # in the background: ranks ready before the first learner presses
        # A prefork child is daemonic and may not start rank processes; solo runs the task in
        # the worker's main process, one run at a time, which is also what a GPU wants. It also
        # takes the shared default queue's light tasks (fitting a learner's review parameters).
        try:
            app.worker_main([
                "worker", "--pool=solo", "--concurrency=1", "--loglevel=INFO",
                "-Q", f"{node.queue},{settings.CELERY_TASK_DEFAULT_QUEUE}", "-n", f"tplab@{hostname}",
            ])
        finally:
            stop.set()
