from django.urls import path

from apps.origin_api.views import OriginApiDocsView

app_name = "origin_api_docs"

urlpatterns = [
    path("origins/", OriginApiDocsView.as_view(), name="guide"),
]
