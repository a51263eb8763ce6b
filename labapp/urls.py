from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from labapp import views
from tpworkers.urls import cluster_urlpatterns

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("accounts/signup/", views.signup, name="signup"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("lab/", include("tpworkers.urls")),
    path("clusters/", include(cluster_urlpatterns)),
    path("lessons/", include("lessons.urls")),
    path("review/", include("lessons.review.urls")),
    path("", include("lessons.classroom.urls")),  # /teach/, /classes/, /join/<code>/
    path("", include("lessons.liveclass.urls")),  # /teach/live/<cohort>/, /class/<code>/
]
