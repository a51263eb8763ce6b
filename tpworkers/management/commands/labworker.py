from django.conf import settings
from django.core.management.base import BaseCommand

from labapp.celery import app


class Command(BaseCommand):
    help = "Run this node's lab worker (Celery, solo pool: ranks must be able to start)."

    def handle(self, *args, **options):
        # A prefork child is daemonic and may not start rank processes; solo runs the task in
        # the worker's main process, one run at a time, which is also what a GPU wants.
        app.worker_main([
            "worker", "--pool=solo", "--concurrency=1", "--loglevel=INFO",
            "-Q", settings.CELERY_TASK_DEFAULT_QUEUE, "-n", "tplab@%h",
        ])
