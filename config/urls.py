from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path

from config import views
from config.schema import schema
from jobs.api.view import JobsGraphQLView
from jobs.views import csrf

urlpatterns = [
    # The React app's client-side routes all get its index.html.
    re_path(r"^(?:login|submit|jobs|jobs/[^/]+|workers)?/?$", views.ui, name="ui"),
    path("status", views.status, name="status"),
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path(
        "graphql", JobsGraphQLView.as_view(schema=schema, graphiql=settings.DEBUG), name="graphql"
    ),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/csrf/", csrf, name="csrf"),
    path("", include("django_prometheus.urls")),
]
