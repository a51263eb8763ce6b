from django.urls import path

from tpworkers import cluster_views as views

urlpatterns = [
    path("", views.cluster_list, name="cluster_list"),
    path("<int:cluster_id>/", views.cluster_detail, name="cluster_detail"),
    path("<int:cluster_id>/topology/", views.topology_paste, name="cluster_topology_paste"),
    path("nodes/<int:node_id>/deployments/", views.deployment_add, name="cluster_deployment_add"),
    path("nodes/<int:node_id>/deployments/paste/", views.deployments_paste, name="cluster_deployments_paste"),
    path("nodes/<int:node_id>/measure-pairs/", views.measure_all_pairs, name="cluster_measure_pairs"),
    path("nodes/<int:node_id>/pair-runs/", views.node_pair_runs, name="cluster_pair_runs"),
    path("deployments/<int:deployment_id>/edit/", views.deployment_edit, name="cluster_deployment_edit"),
    path("deployments/<int:deployment_id>/delete/", views.deployment_delete, name="cluster_deployment_delete"),
]
