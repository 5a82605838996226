"""Sandbox lenders, mounted at /sandbox/ (every view 404s unless settings.SANDBOX_ENABLED).

These paths are fixed: demo data and the flow tests point lenders' base URLs at them.
"""

from django.urls import path

from apps.sandbox import views

app_name = "sandbox"

urlpatterns = [
    path("embedded/<str:lender_code>/decisions", views.decisions, name="embedded-decisions"),
    path("embedded/<str:lender_code>/decisions/<path:tracking_id>", views.decision_detail, name="embedded-decision"),
    path("embedded/<str:lender_code>/applications", views.applications, name="embedded-applications"),
    path("portal/<str:lender_code>/sign", views.portal, name="portal"),
    path("portal/<str:lender_code>/postback", views.portal_postback, name="portal-postback"),
]
