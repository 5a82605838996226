"""The origins' API, mounted at /api/v1/ in prosperas/urls.py."""

from django.urls import path

from apps.origin_api import views

app_name = "origin_api"

urlpatterns = [
    # No trailing slashes, as the rest of /api/v1/: a redirect would lose a POST's body.
    path("oauth2/token", views.TokenApi.as_view(), name="token"),
    path("leads", views.LeadCreateApi.as_view(), name="leads"),
    path("leads/<str:lead_uuid>", views.LeadDetailApi.as_view(), name="lead"),
    path("events", views.EventFeedApi.as_view(), name="events"),
]
