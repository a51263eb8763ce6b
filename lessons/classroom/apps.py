from django.apps import AppConfig


class ClassroomConfig(AppConfig):
    name = "lessons.classroom"
    label = "classroom"
    verbose_name = "Classroom"
    default_auto_field = "django.db.models.BigAutoField"
