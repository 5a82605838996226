app_name = "postbacks"

urlpatterns: list = []
