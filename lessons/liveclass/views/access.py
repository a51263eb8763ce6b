"""Who may do what in a live class: the cohort's instructors drive (everyone else gets the
dashboard's 404), its learners vote (anyone else gets a 404 for the class page too)."""
from django.http import Http404

from lessons.classroom.models import Cohort, normalise_code


def get_class_for_learner(user, code: str) -> Cohort:
    cohort = Cohort.objects.filter(code=normalise_code(code)).first()
    if cohort is None or not cohort.has_learner(user):
        raise Http404("No such class, or you are not in it: join it first with its code.")
    return cohort
