"""Clusters, their nodes, who owns a cluster, and the deployments a learner describes on a node."""

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from tpworkers.catalog.gpus import parse_gpu_list
from tpworkers.diagnose.deployment_fields import Deployment, from_fields
from tpworkers.diagnose.deployments import parse_deployments


class Cluster(models.Model):
    """A named set of nodes. The machine running the lab is the default cluster's one node."""

    DEFAULT_NAME = "local"

    name = models.CharField(max_length=100, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.name

    @classmethod
    def default(cls) -> "Cluster":
        return cls.objects.get_or_create(name=cls.DEFAULT_NAME)[0]


class Node(models.Model):
    """A machine running a lab worker, which consumes the node's own queue and heartbeats."""

    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="nodes")
    hostname = models.CharField(max_length=200)
    queue = models.CharField(max_length=200, unique=True)
    topology = models.JSONField(default=dict, blank=True)  # tpworkers.diagnose.topology.Topology.to_dict(): this node, reported
    topology_at = models.DateTimeField(null=True, blank=True)
    gpu_count = models.PositiveIntegerField(default=0)
    cpu_ranks = models.PositiveIntegerField(default=2)
    cpu_cores = models.PositiveIntegerField(default=0)  # as its worker reported them; 0: not known
    torch_version = models.CharField(max_length=50, blank=True)
    last_heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["cluster", "hostname"], name="one_node_per_host")]

    def __str__(self):
        return f"{self.hostname} ({self.cluster})"

    def is_online(self, now=None) -> bool:
        if self.last_heartbeat_at is None:
            return False
        now = now or timezone.now()
        return now - self.last_heartbeat_at <= timedelta(seconds=settings.NODE_OFFLINE_AFTER_S)

    def beat(self) -> None:
        Node.objects.filter(pk=self.pk).update(last_heartbeat_at=timezone.now())

    def rank_capacity(self) -> int:
        """Ranks that each get a device of their own: its GPUs, else its CPU cores; 0 not known
        (what tpworkers.rank_sharing.ranks_share compares a rank count with)."""
        return self.gpu_count or self.cpu_cores

    @classmethod
    def default(cls) -> "Node | None":
        """The node runs go to when none is chosen: the freshest node of the default cluster."""
        return cls.objects.filter(cluster__name=Cluster.DEFAULT_NAME).order_by("-last_heartbeat_at").first()



DTYPES = ["bf16", "fp16", "fp8", "int4", "fp32"]


class ClusterOwnership(models.Model):
    """A cluster a learner added: only they and instructors see it. Clusters without one
    (the default "local", those workers register) are shared by everyone logged in."""

    cluster = models.OneToOneField(Cluster, on_delete=models.CASCADE, related_name="ownership")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="owned_clusters")


class NodeDeployment(models.Model):
    """A model a learner serves (or plans to) on a node: what the findings check against."""

    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="deployments")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="deployments")
    model = models.CharField(max_length=200)
    gpus = models.CharField(max_length=100, blank=True, help_text="e.g. 0,1 (empty: GPUs 0..TP-1)")
    tp = models.PositiveSmallIntegerField(default=1, verbose_name="TP")
    dtype = models.CharField(max_length=10, choices=[(d, d) for d in DTYPES], default="bf16",
                             verbose_name="weight dtype")
    # The pasted launch line or YAML it came from: re-parsed so flags the form lacks (KV-cache
    # dtype, context length) still count; cleared once the learner edits it through the form.
    source = models.TextField(blank=True)
    # The model's HF config.json, pasted with it (bounded and checked by the forms): the shape of
    # a model outside the catalog, reported by the learner.
    config_json = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self):
        return f"{self.model} TP={self.tp} on {self.gpus or 'GPUs 0..'}"

    def to_deployment(self) -> Deployment:
        configs = {self.model: self.config_json} if self.config_json else {}  # named as the model it is for
        if self.source:
            return parse_deployments(self.source, configs)[0]
        gpus = parse_gpu_list(self.gpus) if self.gpus else None
        return from_fields(self.model, self.tp, self.dtype, gpus, configs=configs, text=str(self))

    @classmethod
    def from_deployment(cls, node: Node, owner, dep: Deployment, config: dict | None = None) -> "NodeDeployment":
        return cls(node=node, owner=owner, model=dep.model_ref, tp=dep.tp, dtype=dep.weight_dtype,
                   gpus=",".join(map(str, dep.gpus)) if dep.gpus is not None else "", source=dep.text,
                   config_json=config)
