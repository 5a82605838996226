from django.urls import path

from apps.postbacks.views import PostbackDocsView

app_name = "postback_docs"

urlpatterns = [
    path("postbacks/", PostbackDocsView.as_view(), name="postbacks"),
]
