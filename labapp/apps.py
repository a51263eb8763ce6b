from django.apps import AppConfig


class LabappConfig(AppConfig):
    name = "labapp"
    verbose_name = "TP Lab"

    def ready(self):
        # Importing the Celery app here lets shared_task bind to it in web and worker alike.
        from labapp import celery  # noqa: F401
