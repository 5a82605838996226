from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
    path("api/v1/", include("apps.postbacks.urls")),
    path("api/v1/", include("apps.products.urls")),
    path("api/v1/", include("apps.leads.urls")),
    path("api/v1/", include("apps.origin_api.urls")),
    path("offer/", include("apps.origin_api.offer_urls")),
    path("docs/", include("apps.postbacks.docs_urls")),
    path("docs/", include("apps.origin_api.docs_urls")),
    path("sandbox/", include("apps.sandbox.urls")),
    path("partners/", include("apps.partners.urls")),
    path("", include("apps.operations.urls")),
    path("", include("apps.flow.urls")),
]
