from django.urls import path

from tpworkers import views

urlpatterns = [
    path("", views.lab, name="lab"),
    path("runs/", views.run_create, name="run_create"),
    path("runs/<int:run_id>/", views.run_detail, name="run_detail"),
    path("runs/<int:run_id>/cancel/", views.run_cancel, name="run_cancel"),
    path("runs/<int:run_id>/rerun/", views.run_rerun, name="run_rerun"),
    path("runs/<int:run_id>/download.csv", views.run_download, {"fmt": "csv"}, name="run_csv"),
    path("runs/<int:run_id>/download.json", views.run_download, {"fmt": "json"}, name="run_json"),
]
