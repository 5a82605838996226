import os
import sys

from django.core.wsgi import get_wsgi_application

# gunicorn runs Django in threads (gthread, 8 per worker). A thread back from a database or Redis
# round trip waits for the GIL until the running thread hands it over: up to the switch interval,
# 5 ms by default, at each of a page's round trips while another thread renders a page. Under
# load that wait, not the work, made the tail of the flow's pages with many round trips (the
# POSTs); at 1 ms their p95 drops by a quarter to a third (bench/flow.py, 20 consumers).
sys.setswitchinterval(0.001)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "prosperas.settings")
application = get_wsgi_application()
