from django.urls import path

from lessons import views

urlpatterns = [
    path("", views.lesson_list, name="lessons"),
    path("<slug:slug>/", views.lesson_resume, name="lesson"),
    path("<slug:slug>/<slug:key>/", views.step_page, name="lesson_step"),
    path("<slug:slug>/<slug:key>/guess/", views.guess, name="lesson_guess"),
    path("<slug:slug>/<slug:key>/reveal/", views.reveal, name="lesson_reveal"),
    path("<slug:slug>/<slug:key>/rate/", views.rate, name="lesson_rate"),
    path("<slug:slug>/<slug:key>/teachback/", views.teachback, name="lesson_teachback"),
    path("<slug:slug>/<slug:key>/checklist/", views.teachback_check, name="lesson_checklist"),
]
