from django.apps import AppConfig


class ReviewConfig(AppConfig):
    name = "lessons.review"
    label = "review"
    verbose_name = "Review queue"
