"""Sandbox lenders, mounted at /sandbox/ (every view 404s unless settings.SANDBOX_ENABLED).

These paths are fixed: demo data and the flow tests point lenders' base URLs at them. Each style
lives under /sandbox/<style path>/<lender code>/, with the patterns its sandbox module declares
(apps/sandbox/styles.py: one per registered adapter); GET of that base is a health answer for
people trying the sandbox by hand. The circuit breaker's probe is a decision request instead
(each style answers it without keeping anything, after its failure script like any call).
"""

from django.urls import path

from apps.sandbox import views
from apps.sandbox.styles import sandbox_urlpatterns

app_name = "sandbox"

urlpatterns = [
    *sandbox_urlpatterns(),
    path("portal/<str:lender_code>/sign", views.portal, name="portal"),
    path("portal/<str:lender_code>/postback", views.portal_postback, name="portal-postback"),
    path("postbacks/<str:lender_code>/send", views.postbacks_send, name="postbacks-send"),
]
