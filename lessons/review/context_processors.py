from django.utils import timezone

from lessons.review.services import due_count


def review_due(request):
    """The navigation bar's due count: one query, run only when a template shows it."""
    if not request.user.is_authenticated:
        return {}
    return {"review_due": lambda: due_count(request.user, timezone.now())}
