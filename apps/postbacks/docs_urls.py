app_name = "postback_docs"

urlpatterns: list = []
