"""The learner's side of a cohort: joining by link or by typing the code, the classes they are
in, and the privacy note that says what their instructors see."""
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import IntegrityError, transaction
from django.shortcuts import redirect, render

from lessons.classroom.models import Cohort, Membership, normalise_code

CLASSES_PAGE = "classroom/classes.html"


def _classes_context(user, **extra) -> dict:
    memberships = Membership.objects.filter(learner=user).select_related("cohort").prefetch_related("cohort__instructors")
    return {"memberships": memberships, **extra}


@login_required
def classes(request):
    """The classes you are in, a box for a class code, and what instructors see."""
    if request.method == "POST":
        code = normalise_code(request.POST.get("code", ""))
        if Cohort.objects.filter(code=code).exists():
            return redirect("join_cohort", code=code)
        error = (f"No class has the code {code!r}: check it with your instructor (codes are letters and digits, "
                 "without 0, 1, I, L or O)." if code else "Type the code your instructor gave you.")
        return render(request, CLASSES_PAGE, _classes_context(request.user, error=error, code=code), status=400)
    return render(request, CLASSES_PAGE, _classes_context(request.user))


@login_required
def join_cohort(request, code: str):
    """GET: which class this is and what joining shares; POST: join it."""
    cohort = Cohort.objects.filter(code=normalise_code(code)).prefetch_related("instructors").first()
    if cohort is None:
        error = f"No class has the code {code!r}: check the link with your instructor."
        return render(request, "classroom/join.html", {"error": error}, status=404)
    member = cohort.has_learner(request.user)
    context = {"cohort": cohort, "member": member, "closed": cohort.why_closed()}
    if request.method != "POST":
        return render(request, "classroom/join.html", context)
    if context["closed"] and not member:
        return render(request, "classroom/join.html", {**context, "error": context["closed"]}, status=409)
    try:
        with transaction.atomic():
            Membership.objects.get_or_create(cohort=cohort, learner=request.user)
    except IntegrityError:
        pass  # a double click raced itself: the learner is in, once
    messages.success(request, f"You joined {cohort.name}.")
    return redirect("classes")
