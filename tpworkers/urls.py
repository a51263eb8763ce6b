"""The lab's pages (under /lab/) and the cluster pages (under /clusters/)."""

from django.urls import path

from tpworkers.views import clusters, runs

urlpatterns = [
    path("", runs.lab, name="lab"),
    path("runs/", runs.run_create, name="run_create"),
    path("runs/<int:run_id>/", runs.run_detail, name="run_detail"),
    path("runs/<int:run_id>/cancel/", runs.run_cancel, name="run_cancel"),
    path("runs/<int:run_id>/rerun/", runs.run_rerun, name="run_rerun"),
    path("runs/<int:run_id>/download.csv", runs.run_download, {"fmt": "csv"}, name="run_csv"),
    path("runs/<int:run_id>/download.json", runs.run_download, {"fmt": "json"}, name="run_json"),
]

cluster_urlpatterns = [
    path("", clusters.cluster_list, name="cluster_list"),
    path("<int:cluster_id>/", clusters.cluster_detail, name="cluster_detail"),
    path("<int:cluster_id>/topology/", clusters.topology_paste, name="cluster_topology_paste"),
    path("nodes/<int:node_id>/deployments/", clusters.deployment_add, name="cluster_deployment_add"),
    path("nodes/<int:node_id>/deployments/paste/", clusters.deployments_paste, name="cluster_deployments_paste"),
    path("nodes/<int:node_id>/measure-pairs/", clusters.measure_all_pairs, name="cluster_measure_pairs"),
    path("nodes/<int:node_id>/pair-runs/", clusters.node_pair_runs, name="cluster_pair_runs"),
    path("deployments/<int:deployment_id>/edit/", clusters.deployment_edit, name="cluster_deployment_edit"),
    path("deployments/<int:deployment_id>/delete/", clusters.deployment_delete, name="cluster_deployment_delete"),
]
