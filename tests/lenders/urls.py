"""The platform's URLs with the lenders' callback mounted, for tests that receive callbacks.

prosperas/urls.py is asked to mount apps.lenders.urls at /api/v1/lenders/ (the path the
callback URL is documented at); until it does, tests use this with @pytest.mark.urls.
"""

from django.urls import include, path

from prosperas.urls import urlpatterns as platform_urlpatterns

_mounted = any(getattr(getattr(p, "urlconf_module", None), "__name__", "") == "apps.lenders.urls"
               for p in platform_urlpatterns)
urlpatterns = platform_urlpatterns if _mounted else [path("api/v1/lenders/", include("apps.lenders.urls")),
                                                     *platform_urlpatterns]
