import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create the instructor account on first run and print its one-time password."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="instructor")

    def handle(self, *args, username, **options):
        User = get_user_model()
        if User.objects.filter(username=username).exists():
            return
        password = secrets.token_urlsafe(12)
        User.objects.create_superuser(username=username, email="", password=password)
        self.stdout.write(
            f"Instructor account created: username {username!r}, password {password!r}\n"
            "It is shown only this once; change it at /admin/password_change/."
        )
