from django.contrib.auth import login
from django.contrib.auth.forms import UserCreationForm
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache

from labapp import health


def home(request):
    return render(request, "home.html")


@never_cache
def healthz(request):
    # Redis address, worker names, versions: not for strangers, who get the verdict alone.
    body = health.report() if request.user.is_authenticated else health.verdict()
    return JsonResponse(body, status=200 if body["ok"] else 503)


def signup(request):
    if request.user.is_authenticated:
        return redirect("lessons")
    form = UserCreationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("lessons")  # a new learner starts with the course, not an empty lab
    return render(request, "registration/signup.html", {"form": form})
