"""Lender-facing URLs of the lenders app. Mounted at /api/v1/lenders/ in prosperas/urls.py:

    path("api/v1/lenders/", include("apps.lenders.urls")),
"""

from django.urls import path

from apps.lenders import views

app_name = "lenders"

urlpatterns = [
    path("callbacks/<str:token>", views.callback, name="callback"),
]
