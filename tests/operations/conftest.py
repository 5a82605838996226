"""Fixtures for the operations endpoints: a TCP proxy that can cut a web process off from the
shared PostgreSQL or Redis (never stopping them), and a web process to probe."""

from __future__ import annotations

import socket
import threading
import uuid
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings

from tests.postbacks.conftest import start_web_processes, stop_web_process

METRICS_TOKEN = "metrics-token-" + uuid.uuid4().hex


class TcpProxy:
    """127.0.0.1:<port> forwarded to a server. `cut()` closes the port and every connection through
    it, as a network outage between a process and its server would; `restore()` listens again on
    the same port."""

    def __init__(self, target: tuple[str, int] | str):
        self.target = target  # (host, port), or a Unix socket's path
        self.port = 0
        self._listener: socket.socket | None = None
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def restore(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            try:
                listener.shutdown(socket.SHUT_RDWR)  # wakes the thread in accept(); close alone would not
            except OSError:
                pass
            listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            try:
                upstream = self._connect_upstream()
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _connect_upstream(self) -> socket.socket:
        if isinstance(self.target, str):
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            upstream.connect(self.target)
            return upstream
        return socket.create_connection(self.target, timeout=5)

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def through(url: str, proxy: TcpProxy) -> str:
    """`url` with its host and port replaced by the proxy's."""
    parts = urlsplit(url)
    credentials = parts.netloc.rpartition("@")[0]
    netloc = f"{credentials}@127.0.0.1:{proxy.port}" if credentials else f"127.0.0.1:{proxy.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def database_proxy() -> tuple[TcpProxy, str]:
    """A proxy to the test database (on TCP, or the private server's Unix socket) and the URL
    that reaches that database through it."""
    db = settings.DATABASES["default"]
    port = int(db.get("PORT") or 5432)
    host = db["HOST"] or "127.0.0.1"
    proxy = TcpProxy(f"{host}/.s.PGSQL.{port}" if host.startswith("/") else (host, port))
    proxy.restore()
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return proxy, f"postgres://{db['USER']}{password}@127.0.0.1:{proxy.port}/{db['NAME']}"


@pytest.fixture(scope="module")
def proxied_web(django_db_setup, broker_isolation):
    """A gunicorn process reaching PostgreSQL and Redis (cache and broker) only through proxies:
    (web, database proxy, Redis proxy), for the module; a test that cuts a proxy restores it."""
    database, database_url = database_proxy()
    redis_url = settings.REDIS_URL
    redis = TcpProxy((urlsplit(redis_url).hostname, urlsplit(redis_url).port or 6379))
    redis.restore()
    env = {**broker_isolation, "DATABASE_URL": database_url, "REDIS_URL": through(redis_url, redis),
           "CELERY_BROKER_URL": through(redis_url, redis), "METRICS_TOKEN": METRICS_TOKEN}
    [web] = start_web_processes(env, names=[f"testweb-ops-{uuid.uuid4().hex[:6]}"], threads=4)
    yield web, database, redis
    stop_web_process(web)
    database.cut()
    redis.cut()
