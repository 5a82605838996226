"""Every URL of the platform, plus POST /bench/bare: the least a Django view can do to accept a
postback (read the body, insert one row, answer 202), behind the same middleware."""

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from prosperas.urls import urlpatterns as platform_urlpatterns

BARE_TABLE = "bench_bare_row"


@csrf_exempt  # as the postback endpoint is (DRF's APIView)
def bare_insert(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {BARE_TABLE} (body, created_at) VALUES (%s, now()) RETURNING id", [request.body])
        (row_id,) = cursor.fetchone()
    return JsonResponse({"event": row_id, "status": "accepted"}, status=202)


urlpatterns = [path("bench/bare", bare_insert), *platform_urlpatterns]
