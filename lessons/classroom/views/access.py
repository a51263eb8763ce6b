"""Who may open a cohort's dashboard: its own instructors. Everyone else gets a 404, so a
learner or another cohort's instructor cannot even learn that the cohort exists; anonymous
visitors are sent to the login page first (login_required on every view)."""
from django.http import Http404

from labapp.roles import is_instructor
from lessons.classroom.models import Cohort


def require_instructor(user) -> None:
    if not is_instructor(user):
        raise Http404("No such page")


def get_cohort_for_user(user, cohort_id: int) -> Cohort:
    require_instructor(user)
    cohort = Cohort.objects.taught_by(user).filter(pk=cohort_id).first()
    if cohort is None:
        raise Http404("No such cohort")
    return cohort
