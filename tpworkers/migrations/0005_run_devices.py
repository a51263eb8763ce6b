"""A run's device group as structured data (ExperimentRun.devices) instead of the text its page
showed, which charts and lesson labs had to parse back with a regex. Existing text is read once,
here, in the two shapes the old code wrote: "nccl on GPU 0,1, P2P off", "gloo on CPU, 2 ranks"."""

import re

from django.db import migrations, models

ON_GPUS = re.compile(r"^(\w+) on GPU (\d+(?:,\d+)*)(, P2P off)?$")
ON_CPU = re.compile(r"^(\w+) on CPU, (\d+) ranks$")


def devices_from_text(text: str) -> dict:
    if found := ON_GPUS.match(text):
        gpus = [int(g) for g in found.group(2).split(",")]
        return {"backend": found.group(1), "device": "cuda", "gpus": gpus, "p2p": not found.group(3),
                "nproc": len(gpus)}
    if found := ON_CPU.match(text):
        return {"backend": found.group(1), "device": "cpu", "gpus": [], "p2p": True, "nproc": int(found.group(2))}
    return {}


def forwards(apps, schema_editor):
    ExperimentRun = apps.get_model("tpworkers", "ExperimentRun")
    for run in ExperimentRun.objects.exclude(device_group="").only("pk", "device_group"):
        ExperimentRun.objects.filter(pk=run.pk).update(devices=devices_from_text(run.device_group))


class Migration(migrations.Migration):
    dependencies = [("tpworkers", "0004_run_return_to")]

    operations = [
        migrations.AddField(model_name="experimentrun", name="devices",
                            field=models.JSONField(blank=True, default=dict)),
        migrations.RunPython(forwards, migrations.RunPython.noop),
        migrations.RemoveField(model_name="experimentrun", name="device_group"),
    ]
