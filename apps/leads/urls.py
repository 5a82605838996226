"""Lender-facing URLs of the leads app, mounted at /api/v1/ in prosperas/urls.py."""

from django.urls import path

from apps.leads import views

app_name = "leads"

urlpatterns = [
    path("lenders/callbacks/<str:token>", views.lender_callback, name="lender_callback"),
]
