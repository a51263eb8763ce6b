from django.apps import AppConfig


class LiveClassConfig(AppConfig):
    name = "lessons.liveclass"
    label = "liveclass"
    verbose_name = "Live class"
    default_auto_field = "django.db.models.BigAutoField"
