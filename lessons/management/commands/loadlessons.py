from django.core.management.base import BaseCommand, CommandError

from lessons.loader import ContentError, load_course


class Command(BaseCommand):
    help = "Validate lessons/content/*.yaml and load them into the database (idempotent)."

    def handle(self, *args, **options):
        try:
            report = load_course()
        except ContentError as exc:
            raise CommandError("the lessons did not validate; nothing was loaded:\n  "
                               + "\n  ".join(exc.errors)) from None
        for line in report:
            self.stdout.write(line)
