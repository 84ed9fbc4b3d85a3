"""Fixtures shared by the tests: the offline mirror, an isolated machine, a local HTTP server and an HTTP proxy."""

import functools
import http.client
import http.server
import os
import pathlib
import threading
import urllib.parse
import urllib.request

import pytest

from tlkeras import config, data

ENVIRONMENT = (  # everything that changes where data come from; `isolated` clears all of it
    config.MIRROR_ENV,
    config.OFFLINE_ENV,
    config.PROFILE_ENV,
    data.FASHION_ORIGIN_ENV,
    "TLKERAS_CATS_ORIGIN",
    "TLKERAS_ISIC_ORIGIN",
    "TLKERAS_WEIGHTS_ORIGIN",
    "TFDS_DATA_DIR",
    *(f"{scheme}_{kind}" for scheme in ("http", "https", "all", "no") for kind in ("proxy", "PROXY")),
)


@pytest.fixture(scope="session")
def mirror():
    """The offline mirror (``$TLKERAS_MIRROR``, set by conftest.py from ../shared/data); skips without one."""
    folder = config.mirror_dir()
    if folder is None or not folder.is_dir():
        pytest.skip("no offline mirror: set TLKERAS_MIRROR or put shared/data beside the checkout")
    return folder


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    """A machine with nothing on it: no mirror, proxy or origin override, an empty home, Keras cache and array
    cache, no Debian data folder, and no remembered network answers. Downloads are allowed (tests pass local URLs
    or ``download=False``)."""
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "home" / ".keras"))
    monkeypatch.setenv(config.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(data, "DEBIAN_ROOT", tmp_path / "usr-share-datasets")
    monkeypatch.setattr(urllib.request, "_opener", None)  # urlopen keeps the proxies it saw first: start afresh
    data._answers.cache_clear()
    yield tmp_path
    data._answers.cache_clear()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep test output clean, but remember what was asked for
        self.server.requested.append(self.path)


def _start(server):
    server.requested = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def serve():
    """serve(folder) -> (base URL "http://127.0.0.1:PORT/", list of requested paths): a local HTTP server for
    `folder`, stopped after the test."""
    servers = []

    def start(folder):
        handler = functools.partial(_QuietHandler, directory=os.fspath(pathlib.Path(folder)))
        server = _start(http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler))
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/", server.requested

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    """A forwarding HTTP proxy for plain-HTTP requests; host names ending in ".test" resolve to 127.0.0.1."""

    timeout = 10  # a stuck client cannot hold a thread for long

    def _forward(self):
        target = urllib.parse.urlsplit(self.path)
        if not target.hostname:  # not a proxy request (a path without a host)
            self.send_error(400, "absolute URL expected")
            return
        host = "127.0.0.1" if target.hostname.endswith(".test") else target.hostname
        upstream = http.client.HTTPConnection(host, target.port or 80, timeout=10)
        try:
            upstream.request(self.command, target.path or "/", headers={"Host": target.netloc})
            answer = upstream.getresponse()
            body = answer.read()
        except OSError as error:
            self.send_error(502, f"cannot reach {target.netloc}: {error}")
            return
        finally:
            upstream.close()
        self.server.requested.append(self.path)
        self.send_response(answer.status)
        for name, value in answer.getheaders():
            if name.lower() not in ("connection", "transfer-encoding"):
                self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_HEAD = _forward

    def log_message(self, *args):
        pass


@pytest.fixture
def proxy():
    """(proxy URL "http://127.0.0.1:PORT", list of URLs it forwarded): a small HTTP proxy, stopped after the test."""
    server = _start(http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ProxyHandler))
    yield f"http://127.0.0.1:{server.server_address[1]}", server.requested
    server.shutdown()
    server.server_close()
