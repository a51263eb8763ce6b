from django.urls import path

from tpworkers import views

urlpatterns = [
    path("", views.lab, name="lab"),
    path("runs/", views.run_create, name="run_create"),
    path("runs/<int:run_id>/", views.run_detail, name="run_detail"),
]
