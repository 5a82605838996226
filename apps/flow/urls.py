"""The hosted consumer flow. Journey URLs carry only the lead's public token."""

from django.urls import path
from django.views.i18n import set_language

from apps.flow import consent_views, live, resume_views, views

app_name = "flow"

urlpatterns = [
    path("", views.home, name="home"),
    path("i18n/setlang/", set_language, name="set_language"),
    path("legal/", views.legal, name="legal"),
    path("o/<str:origin_code>/", views.catalog, name="catalog"),
    path("o/<str:origin_code>/start", views.start, name="start"),
    path("j/<str:token>/", views.resume, name="resume"),
    path("j/<str:token>/state", views.state, name="state"),
    path("j/<str:token>/events", live.events, name="events"),
    path("j/<str:token>/result-email", views.result_email, name="result_email"),
    path("j/<str:token>/identity", views.identity, name="identity"),
    path("j/<str:token>/decision", views.decision, name="decision"),
    path("j/<str:token>/offer", views.offer_choose, name="offer_choose"),
    path("j/<str:token>/retry", views.retry, name="retry"),
    path("j/<str:token>/details", views.details, name="details"),
    path("j/<str:token>/handoff", views.handoff, name="handoff"),
    path("j/<str:token>/status", views.status, name="status"),
    path("j/<str:token>/consent", consent_views.consent, name="consent"),
    # The result email's one-time link; its token is its own, not the journey's.
    path("continue/<str:token>/", resume_views.resume_link, name="resume_link"),
]
