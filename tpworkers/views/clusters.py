"""Cluster pages: nodes with their topology matrix, NVLink state, measured pair bandwidth,
deployments and findings; nvidia-smi paste box; "Measure all pairs"."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRefresh

from tpworkers.cluster_forms import ClusterForm, DeploymentForm, DeploymentPasteForm, TopologyPasteForm
from tpworkers.clusters import (can_edit_cluster, node_findings, pair_measurements, pair_runs, pair_sweep_params,
                                paste_topology, queue_pair_runs, visible_clusters)
from tpworkers.diagnose import clusterview
from tpworkers.diagnose.deployment_fields import DeploymentError
from tpworkers.diagnose.deployments import read_paste
from tpworkers.diagnose.nvsmi_parse import ParseError
from tpworkers.diagnose.pairlinks import nvlink_states
from tpworkers.models import Cluster, ClusterOwnership, Node, NodeDeployment

PAGE = "tpworkers/cluster_detail.html"
# Every view of a cluster page draws each node and re-reads each deployment: counts stay small.
MAX_DEPLOYMENTS_PER_NODE = 32
MAX_NODES_PER_CLUSTER = 32  # nodes a paste may add; the largest (16 GPUs, 32 NICs) renders in ~0.5 s


def _get_cluster_for_user(user, cluster_id: int) -> Cluster:
    """404 for clusters this user may not see, so a stranger cannot learn they exist."""
    cluster = visible_clusters(user).filter(pk=cluster_id).first()
    if cluster is None:
        raise Http404("No such cluster")
    return cluster


def _get_node_for_user(user, node_id: int) -> Node:
    node = Node.objects.filter(pk=node_id, cluster__in=visible_clusters(user)).first()
    if node is None:
        raise Http404("No such node")
    return node


def _get_deployment_for_user(user, deployment_id: int) -> NodeDeployment:
    deployment = NodeDeployment.objects.filter(pk=deployment_id, owner=user).select_related("node").first()
    if deployment is None:
        raise Http404("No such deployment")
    return deployment


def _node_card(node: Node, user, deployment_form=None, paste_form=None) -> dict:
    topology = clusterview.topology_node(node.topology, node.hostname)
    report = node_findings(node, user)
    seconds_since = lambda moment: (timezone.now() - moment).total_seconds() if moment else None
    return {
        "node": node, "online": node.is_online(), "gpus": len(topology.gpus) or node.gpu_count,
        "heartbeat_ago": clusterview.ago(seconds_since(node.last_heartbeat_at)),
        "topology_ago": clusterview.ago(seconds_since(node.topology_at)),
        "matrix": clusterview.matrix(topology), "links": nvlink_states(topology),
        "cut_note": clusterview.cut_note(topology),
        "heatmap": clusterview.heatmap(topology, pair_measurements(node, user)),
        "findings": report.findings, "broken": report.broken,
        "deployments": node.deployments.filter(owner=user),
        "deployment_form": deployment_form or DeploymentForm(node=node),
        "paste_form": paste_form or DeploymentPasteForm(),
    }


def _render_cluster(request, cluster: Cluster, status=200, topology_form=None, **node_forms):
    """The cluster page; a form with errors replaces the blank one of its node (node_forms:
    node_id=..., deployment_form=..., paste_form=...)."""
    failed_node = node_forms.pop("node_id", None)
    cards = [_node_card(node, request.user, **(node_forms if node.pk == failed_node else {}))
             for node in cluster.nodes.order_by("hostname")]
    hostname = cluster.nodes.values_list("hostname", flat=True).first() or ""
    return render(request, PAGE, {
        "cluster": cluster, "cards": cards, "can_edit": can_edit_cluster(request.user, cluster),
        "topology_form": topology_form or TopologyPasteForm(initial={"hostname": hostname}),
    }, status=status)


def _back_to(request, cluster: Cluster, anchor: str = ""):
    # htmx: reload the page (an HX-Redirect to the same page with only a new #anchor would
    # just scroll, leaving the old matrix on screen).
    if request.htmx:
        return HttpResponseClientRefresh()
    return redirect(reverse("cluster_detail", args=[cluster.pk]) + anchor)


@login_required
def cluster_list(request):
    form = ClusterForm(request.POST or None, owner=request.user)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            cluster = Cluster.objects.create(name=form.full_name())
            ClusterOwnership.objects.create(cluster=cluster, owner=request.user)
        return redirect("cluster_detail", cluster_id=cluster.pk)
    clusters = visible_clusters(request.user).select_related("ownership__owner").prefetch_related("nodes")
    return render(request, "tpworkers/cluster_list.html", {"clusters": clusters, "form": form},
                  status=400 if form.errors else 200)


@login_required
def cluster_detail(request, cluster_id: int):
    return _render_cluster(request, _get_cluster_for_user(request.user, cluster_id))


@login_required
@require_POST
def topology_paste(request, cluster_id: int):
    cluster = _get_cluster_for_user(request.user, cluster_id)
    if not can_edit_cluster(request.user, cluster):
        raise Http404("Only the cluster's owner or an instructor may change its topology")
    form = TopologyPasteForm(request.POST)
    if form.is_valid() and not cluster.nodes.filter(hostname=form.cleaned_data["hostname"]).exists() \
            and cluster.nodes.count() >= MAX_NODES_PER_CLUSTER:
        form.add_error("hostname", f"this cluster has {MAX_NODES_PER_CLUSTER} nodes, the most a cluster page shows: "
                                   "paste into one of them, or ask an instructor")
    if form.is_valid():
        try:
            kind, node = paste_topology(cluster, form.cleaned_data["hostname"], form.cleaned_data["text"])
        except ParseError as error:
            form.add_error("text", f"Line {error.line_no}: {error.why}")
            form.parse_error = error
        else:
            messages.success(request, f"Read {kind} for {node.hostname}: merged into its topology.")
            return _back_to(request, cluster, f"#node-{node.pk}")
    if request.htmx:  # 200: htmx does not swap 4xx answers in by default
        return render(request, PAGE + "#topology-paste", {"cluster": cluster, "topology_form": form})
    return _render_cluster(request, cluster, status=400, topology_form=form)


@login_required
@require_POST
def deployment_add(request, node_id: int):
    node = _get_node_for_user(request.user, node_id)
    form = DeploymentForm(request.POST, node=node)
    if form.is_valid() and node.deployments.filter(owner=request.user).count() >= MAX_DEPLOYMENTS_PER_NODE:
        form.add_error(None, f"at most {MAX_DEPLOYMENTS_PER_NODE} deployments of yours on one node: delete some first")
    if form.is_valid():
        form.instance.node, form.instance.owner = node, request.user
        form.save()
        return _back_to(request, node.cluster, f"#node-{node.pk}")
    return _render_cluster(request, node.cluster, status=400, node_id=node.pk, deployment_form=form)


@login_required
@require_POST
def deployments_paste(request, node_id: int):
    """Launch lines or YAML: all of them are saved, or none (the error names the line)."""
    node = _get_node_for_user(request.user, node_id)
    form = DeploymentPasteForm(request.POST)
    if form.is_valid():
        try:
            paste = read_paste(form.cleaned_data["text"], form.cleaned_data["config"])
            records = [NodeDeployment.from_deployment(node, request.user, d, config) for d, config in paste.deployments]
            _check_deployments(node, request.user, records)
        except DeploymentError as error:
            form.add_error("text", str(error))
        else:
            if paste.config_error:
                form.add_error("config", paste.config_error)
            else:
                NodeDeployment.objects.bulk_create(records)
                return _back_to(request, node.cluster, f"#node-{node.pk}")
    return _render_cluster(request, node.cluster, status=400, node_id=node.pk, paste_form=form)


def _check_deployments(node: Node, owner, records: list[NodeDeployment]) -> None:
    """What the form checks, for every record bulk_create would save (it skips the model's
    validation, and SQLite keeps a string of any length), and the learner's total on this node."""
    for record in records:
        try:
            record.full_clean(exclude=["node", "owner"])
        except ValidationError as error:
            raise DeploymentError(f"{record.model[:60]}: " + "; ".join(
                f"{name}: {' '.join(messages)}" for name, messages in error.message_dict.items())) from None
    total = node.deployments.filter(owner=owner).count() + len(records)
    if total > MAX_DEPLOYMENTS_PER_NODE:
        raise DeploymentError(f"at most {MAX_DEPLOYMENTS_PER_NODE} deployments of yours on one node; "
                              f"this would make {total}: delete some first")


@login_required
def deployment_edit(request, deployment_id: int):
    deployment = _get_deployment_for_user(request.user, deployment_id)
    form = DeploymentForm(request.POST or None, instance=deployment, node=deployment.node)
    if request.method == "POST" and form.is_valid():
        form.instance.source = ""  # the form's fields are now the truth, not the pasted line
        form.save()
        return redirect(reverse("cluster_detail", args=[deployment.node.cluster_id]) + f"#node-{deployment.node_id}")
    return render(request, "tpworkers/cluster_deployment_edit.html", {"form": form, "deployment": deployment},
                  status=400 if form.errors else 200)


@login_required
@require_POST
def deployment_delete(request, deployment_id: int):
    deployment = _get_deployment_for_user(request.user, deployment_id)
    deployment.delete()
    return _back_to(request, deployment.node.cluster, f"#node-{deployment.node_id}")


@login_required
@require_POST
def measure_all_pairs(request, node_id: int):
    node = _get_node_for_user(request.user, node_id)
    if not node.is_online():
        messages.error(request, f"{node.hostname} is offline (no worker heartbeat): its runs would never start.")
        return redirect(reverse("cluster_detail", args=[node.cluster_id]) + f"#node-{node.pk}")
    created, refused = queue_pair_runs(request.user, node)
    if created:
        messages.success(request, f"Queued {len(created)} all-reduce run(s) on {node.hostname}.")
    if refused:
        messages.error(request, refused)
    return redirect("cluster_pair_runs", node_id=node.pk)


@login_required
def node_pair_runs(request, node_id: int):
    """The learner's pair runs and the node's findings, re-read every few seconds while a run is
    active, so the findings change as each pair's measurement lands."""
    node = _get_node_for_user(request.user, node_id)
    runs = pair_runs(request.user, node)
    rows = [(run, clusterview.best_busbw_at_largest_size([m.data for m in run.measurements.all()]))
            for run in runs]
    context = {"node": node, "rows": rows, "active": any(run.is_active for run in runs), "sweep": pair_sweep_params((0, 1)),
               "findings": node_findings(node, request.user).findings}
    template = "tpworkers/cluster_pair_runs.html" + ("#progress" if request.htmx else "")
    return render(request, template, context)
