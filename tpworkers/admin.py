from django.contrib import admin

from tpworkers.models import Cluster, ClusterOwnership, ExperimentRun, Measurement, Node, NodeDeployment


class MeasurementInline(admin.TabularInline):
    model = Measurement
    extra = 0
    readonly_fields = ["seq", "data", "created_at"]


@admin.register(ExperimentRun)
class ExperimentRunAdmin(admin.ModelAdmin):
    list_display = ["id", "owner", "experiment", "status", "device_group", "created_at"]
    list_filter = ["status", "experiment"]
    inlines = [MeasurementInline]


class NodeInline(admin.TabularInline):
    model = Node
    extra = 0
    fields = ["hostname", "queue", "gpu_count", "last_heartbeat_at"]
    readonly_fields = ["queue", "last_heartbeat_at"]
    show_change_link = True


@admin.register(Cluster)
class ClusterAdmin(admin.ModelAdmin):
    """Instructors rename, share (delete the ownership) or remove clusters, squatted names included."""

    list_display = ["name", "owner", "created_at"]
    search_fields = ["name", "ownership__owner__username"]
    inlines = [NodeInline]

    @admin.display(ordering="ownership__owner__username")
    def owner(self, cluster):
        return getattr(getattr(cluster, "ownership", None), "owner", None) or "shared"


@admin.register(ClusterOwnership)
class ClusterOwnershipAdmin(admin.ModelAdmin):
    list_display = ["cluster", "owner"]
    search_fields = ["cluster__name", "owner__username"]


@admin.register(Node)
class NodeAdmin(admin.ModelAdmin):
    list_display = ["hostname", "cluster", "gpu_count", "last_heartbeat_at"]
    list_filter = ["cluster"]
    search_fields = ["hostname", "cluster__name"]


@admin.register(NodeDeployment)
class NodeDeploymentAdmin(admin.ModelAdmin):
    list_display = ["model", "tp", "gpus", "node", "owner"]
    search_fields = ["model", "owner__username"]
