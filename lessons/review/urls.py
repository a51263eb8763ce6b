from django.urls import path

from lessons.review import quiz_views, settings_views, views

urlpatterns = [
    path("", views.queue, name="review"),
    path("answer/", views.answer, name="review_answer"),
    path("reviewed/<int:log_id>/", views.result, name="review_result"),
    path("items/<int:step_id>/suspend/", views.suspend, name="review_suspend"),
    path("history/", views.history_page, name="review_history"),
    path("settings/", settings_views.settings_page, name="review_settings"),
    path("settings/fit/", settings_views.fit, name="review_fit"),
    path("settings/reset/", settings_views.reset_parameters, name="review_reset"),
    path("quiz/<slug:slug>/", quiz_views.quiz_home, name="review_quiz"),
    path("quiz/<slug:slug>/<int:quiz_id>/", quiz_views.quiz_take, name="review_quiz_take"),
    path("quiz/<slug:slug>/<int:quiz_id>/answer/", quiz_views.quiz_answer, name="review_quiz_answer"),
]
