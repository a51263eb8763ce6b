"""The Celery app. Workers run experiments; ``python3 lab.py run`` starts one, ``python3 lab.py worker`` one per further node.

Workers must use the ``solo`` (or ``threads``) pool: a prefork child is daemonic and cannot
start the torch.distributed rank processes an experiment needs.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labapp.settings")

app = Celery("labapp")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
