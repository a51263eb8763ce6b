from django.apps import AppConfig


class TpworkersConfig(AppConfig):
    name = "tpworkers"
    verbose_name = "Experiments"
