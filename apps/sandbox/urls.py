"""Sandbox lenders, mounted at /sandbox/ (every view 404s unless settings.SANDBOX_ENABLED).

These paths are fixed: demo data and the flow tests point lenders' base URLs at them. Each style
lives under /sandbox/<style>/<lender code>/; GET of that base is a health answer the circuit
breaker's probe reaches (it plays the failure script like any other call).
"""

from django.urls import path

from apps.sandbox import views

app_name = "sandbox"

urlpatterns = [
    path("embedded/<str:lender_code>/", views.embedded_health, name="embedded-health"),
    path("embedded/<str:lender_code>/decisions", views.decisions, name="embedded-decisions"),
    path("embedded/<str:lender_code>/decisions/<path:tracking_id>", views.decision_detail, name="embedded-decision"),
    path("embedded/<str:lender_code>/applications", views.applications, name="embedded-applications"),
    path("async/<str:lender_code>/", views.async_health, name="async-health"),
    path("async/<str:lender_code>/oauth2/token", views.token, {"style": "async_lead"}, name="async-token"),
    path("async/<str:lender_code>/personal/v1/leads", views.async_leads, name="async-leads"),
    path("async/<str:lender_code>/personal/v1/leads/<str:lead_uuid>", views.async_lead_detail, name="async-lead"),
    path("async/<str:lender_code>/go/", views.async_go, {"lead_uuid": "", "product_id": ""}, name="async-go-base"),
    path("async/<str:lender_code>/go/<str:lead_uuid>/<str:product_id>", views.async_go, name="async-go"),
    path("offers/<str:lender_code>/", views.offers_health, name="offers-health"),
    path("offers/<str:lender_code>/oauth/token", views.token, {"style": "offers_api"}, name="offers-token"),
    path("offers/<str:lender_code>/marketplace/application/offers/", views.offers, name="offers-offers"),
    path("mapped/<str:lender_code>/", views.mapped_health, name="mapped-health"),
    path("mapped/<str:lender_code>/solicitudes", views.mapped_requests, name="mapped-requests"),
    path("mapped/<str:lender_code>/solicitudes/<path:reference>", views.mapped_request_detail, name="mapped-request"),
    path("mapped/<str:lender_code>/radicaciones", views.mapped_filings, name="mapped-filings"),
    path("portal/<str:lender_code>/sign", views.portal, name="portal"),
    path("portal/<str:lender_code>/postback", views.portal_postback, name="portal-postback"),
]
