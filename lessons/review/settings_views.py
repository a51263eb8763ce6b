"""Review settings: desired retention, the daily new-item limit, suspended items, and the
learner's personal FSRS parameters (fitted in a Celery task, lessons.review.fitting)."""
from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from lessons.review import fitting, scheduling, services
from lessons.review.models import ReviewCard, ReviewSettings


class SettingsForm(forms.ModelForm):
    class Meta:
        model = ReviewSettings
        fields = ["desired_retention", "daily_new_limit"]
        widgets = {"desired_retention": forms.NumberInput(attrs={"step": "0.01", "min": "0.7", "max": "0.97"})}


def _context(learner, form: SettingsForm) -> dict:
    now = timezone.now()
    chosen = services.settings_for(learner)
    fit = fitting.latest_fit(learner, now)
    return {
        "form": form, "settings": chosen, "fit": fit, "eligible": fitting.eligible_count(learner),
        "minimum": scheduling.MIN_REVIEWS_TO_FIT,
        "changes": fitting.what_changed(fit, chosen.desired_retention, now) if fit and fit.after else None,
        "intervals": scheduling.intervals(services.scheduler_for(learner), now),
        "suspended": ReviewCard.objects.filter(learner=learner, suspended=True, step__retired=False)
        .select_related("step__lesson"),
    }


@login_required
def settings_page(request):
    chosen = services.settings_for(request.user)
    if request.method != "POST":
        return render(request, "review/settings.html", _context(request.user, SettingsForm(instance=chosen)))
    form = SettingsForm(request.POST, instance=chosen)
    if not form.is_valid():
        return render(request, "review/settings.html", _context(request.user, form), status=400)
    form.save()
    messages.success(request, "Saved: the next review is scheduled with these settings.")
    return redirect("review_settings")


@login_required
@require_POST
def fit(request):
    queued, refusal = fitting.request_fit(request.user, timezone.now())
    if queued:
        messages.success(request, "Fitting your parameters: this page shows the result when the lab worker is done.")
    else:
        messages.error(request, refusal)
    return redirect("review_settings")


@login_required
@require_POST
def reset_parameters(request):
    ReviewSettings.objects.filter(learner=request.user).update(parameters=None)
    messages.success(request, "Back to the FSRS default parameters.")
    return redirect("review_settings")
