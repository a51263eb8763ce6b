"""Mounted at the site root: /teach/ (a cohort's instructors), /classes/ and /join/ (learners)."""
from django.urls import path
from django.views.generic import RedirectView

from lessons.classroom.views import cohorts, export, items, labs, learners, teachbacks

urlpatterns = [
    path("teach/", cohorts.teach_home, name="teach"),
    path("teach/<int:cohort_id>/", cohorts.cohort_progress, name="teach_cohort"),
    path("teach/<int:cohort_id>/instructors/", cohorts.add_instructor, name="teach_add_instructor"),
    path("teach/<int:cohort_id>/answers/", items.cohort_answers, name="teach_answers"),
    path("teach/<int:cohort_id>/misconceptions/", items.cohort_misconceptions, name="teach_misconceptions"),
    path("teach/<int:cohort_id>/items/", items.cohort_items, name="teach_items"),
    path("teach/<int:cohort_id>/teachbacks/", teachbacks.cohort_teachbacks, name="teach_teachbacks"),
    path("teach/<int:cohort_id>/teachbacks/<int:teachback_id>/exemplary/", teachbacks.teachback_exemplary,
         name="teach_exemplary"),
    path("teach/<int:cohort_id>/teachbacks/<int:teachback_id>/comment/", teachbacks.teachback_comment,
         name="teach_comment"),
    path("teach/<int:cohort_id>/labs/", labs.cohort_labs_page, name="teach_labs"),
    path("teach/<int:cohort_id>/export/", export.export_page, name="teach_export"),
    path("teach/<int:cohort_id>/export/<slug:table>.csv", export.export_csv, name="teach_export_csv"),
    path("teach/<int:cohort_id>/export/cohort.json", export.export_json, name="teach_export_json"),
    path("classes/", learners.classes, name="classes"),
    path("classes/teachbacks/<int:teachback_id>/share/", teachbacks.teachback_share, name="teachback_share"),
    path("join/", RedirectView.as_view(pattern_name="classes"), name="join"),
    path("join/<str:code>/", learners.join_cohort, name="join_cohort"),
]
