from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

admin.site.site_header = "Prosperas · staff"
admin.site.site_title = "Prosperas staff"
admin.site.index_title = "Marketplace administration"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
    path("api/v1/", include("apps.postbacks.urls")),
    path("api/v1/", include("apps.products.urls")),
    path("api/v1/", include("apps.leads.urls")),
    path("docs/", include("apps.postbacks.docs_urls")),
    path("sandbox/", include("apps.sandbox.urls")),
    path("", include("apps.operations.urls")),
    path("", include("apps.flow.urls")),
]
