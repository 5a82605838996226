from django.urls import path

from apps.partners import account_views, conformance_views, views

app_name = "partners"

urlpatterns = [
    path("", views.home_view, name="home"),
    path("login/", account_views.login_view, name="login"),
    path("logout/", account_views.logout_view, name="logout"),
    path("invitation/<str:token>/", account_views.invitation_view, name="invitation"),
    path("enrol/", account_views.enrol_view, name="enrol"),
    path("handover/<str:token>/", account_views.handover_view, name="handover"),
    path("credentials/", views.credentials_view, name="credentials"),
    path("credentials/<int:lender_id>/issue/", views.credential_issue_view, name="credential_issue"),
    path("credentials/revoke/<int:credential_id>/", views.credential_revoke_view, name="credential_revoke"),
    path("postbacks/", views.debugger_view, name="debugger"),
    path("leads/", views.leads_view, name="leads"),
    path("leads/<str:tracking_id>/", views.lead_view, name="lead"),
    path("products/", views.products_view, name="products"),
    path("products/<str:product_id>/propose/", views.product_propose_view, name="product_propose"),
    path("sla/", views.sla_view, name="sla"),
    path("conformance/", conformance_views.conformance_view, name="conformance"),
    path("conformance/<int:lender_id>/start/", conformance_views.conformance_start_view, name="conformance_start"),
    path("conformance/runs/<int:run_id>/", conformance_views.conformance_run_view, name="conformance_run"),
]
