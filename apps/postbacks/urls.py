from django.urls import path

from apps.postbacks.views import PostbackIngestView, PostbackTesterView

app_name = "postbacks"

urlpatterns = [
    # No trailing slash: the published contract is POST /api/v1/postbacks (a redirect would lose the body).
    path("postbacks", PostbackIngestView.as_view(), name="ingest"),
    path("postbacks/test", PostbackTesterView.as_view(), name="test"),
]
