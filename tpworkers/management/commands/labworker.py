import logging
import socket
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections
from django.utils import timezone

from labapp.celery import app
from tpworkers.models import Cluster, ExperimentRun, Node
from tpworkers.runs import publish_status

log = logging.getLogger(__name__)


def register_node(cluster_name: str, hostname: str) -> Node:
    """Create or refresh this node: its queue, its NVML topology (reported), what it can run.

    Runs this node had in flight died with the previous worker process: say so on each, and
    tell their pages. A worker joins shared clusters only, never a learner's private one.
    """
    if "/" in cluster_name:  # "ada/h100-box": learners' private clusters are named under their username
        raise CommandError(f"Cluster {cluster_name!r}: a name with a slash is a learner's private cluster; "
                           "a worker joins only shared clusters. Choose a --cluster name without '/'.")
    import torch

    from tpworkers.diagnose.nvml_probe import probe
    from tpworkers.diagnose.topology import Topology
    from tpworkers.measure.devicegroup import max_cpu_ranks

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
            "torch_version": torch.__version__,
            "last_heartbeat_at": timezone.now(),
        },
    )
    for run in node.runs.filter(status=ExperimentRun.Status.RUNNING):
        if run.finish(ExperimentRun.Status.FAILED, "The node's worker restarted while this run was running.",
                      expected=ExperimentRun.Status.RUNNING):
            publish_status(run)
    return node


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
        node = register_node(cluster, hostname)
        self.stdout.write(f"Node {hostname} of cluster {cluster!r} consumes queue {node.queue}")
        stop = threading.Event()
        threading.Thread(target=heartbeat_forever, args=(node, stop), daemon=True, name="heartbeat").start()
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
