"""Fixtures shared by the tests: the offline mirror, an isolated machine, and a local HTTP server."""

import functools
import http.server
import os
import pathlib
import threading

import pytest

from tlkeras import config, data


@pytest.fixture(scope="session")
def mirror():
    """The offline mirror (``$TLKERAS_MIRROR``, set by conftest.py from ../shared/data); skips without one."""
    folder = config.mirror_dir()
    if folder is None or not folder.is_dir():
        pytest.skip("no offline mirror: set TLKERAS_MIRROR or put shared/data beside the checkout")
    return folder


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    """A machine with nothing on it: no mirror, an empty home and Keras cache, no Debian data folder."""
    monkeypatch.delenv(config.MIRROR_ENV, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "home" / ".keras"))
    monkeypatch.setenv(config.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(data, "DEBIAN_ROOT", tmp_path / "usr-share-datasets")
    return tmp_path


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep test output clean
        pass


@pytest.fixture
def serve():
    """serve(folder) -> base URL ("http://127.0.0.1:PORT/") of a local HTTP server for `folder`, stopped after the test."""
    servers = []

    def start(folder):
        handler = functools.partial(_QuietHandler, directory=os.fspath(pathlib.Path(folder)))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
