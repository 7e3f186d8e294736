from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import path, re_path
from django_prometheus.exports import ExportToDjangoView

from config import views
from config.operators import operators_only
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
        # GraphiQL only with DEBUG on (decided per request: JobsGraphQLView).
        "graphql",
        JobsGraphQLView.as_view(schema=schema, graphiql=True),
        name="graphql",
    ),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/csrf/", csrf, name="csrf"),
    path("metrics", operators_only(ExportToDjangoView), name="prometheus-django-metrics"),
]
