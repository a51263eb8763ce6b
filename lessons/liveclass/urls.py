"""Mounted at the site root: /teach/live/<cohort>/ (its instructors), /class/<code>/ (its learners)."""
from django.urls import path

from lessons.liveclass.views import console, learner

urlpatterns = [
    path("teach/live/<int:cohort_id>/", console.console, name="live_console"),
    path("teach/live/<int:cohort_id>/screen/", console.screen, name="live_screen"),
    path("teach/live/<int:cohort_id>/open/", console.open_round, name="live_open"),
    path("teach/live/<int:cohort_id>/second/", console.second_vote, name="live_second"),
    path("teach/live/<int:cohort_id>/reveal/", console.reveal, name="live_reveal"),
    path("teach/live/<int:cohort_id>/run/", console.run_lab, name="live_run"),
    path("teach/live/<int:cohort_id>/end/", console.end, name="live_end"),
    path("class/<str:code>/", learner.live_class, name="live_class"),
    path("class/<str:code>/vote/", learner.vote, name="live_vote"),
]
