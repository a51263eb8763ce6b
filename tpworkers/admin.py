from django.contrib import admin

from tpworkers.models import ExperimentRun, Measurement


class MeasurementInline(admin.TabularInline):
    model = Measurement
    extra = 0
    readonly_fields = ["seq", "data", "created_at"]


@admin.register(ExperimentRun)
class ExperimentRunAdmin(admin.ModelAdmin):
    list_display = ["id", "owner", "experiment", "status", "device_group", "created_at"]
    list_filter = ["status", "experiment"]
    inlines = [MeasurementInline]
