"""A loopback S3-compatible server (moto) that counts the object bytes it serves (test support only).

The moto WSGI app runs in a thread of the test process, wrapped by a middleware that adds up the
body bytes of every ``GET`` response, so a test can tell a ranged read from a whole download.
Clients find it through the standard ``AWS_ENDPOINT_URL`` variable, which child processes
(Dask workers, loader workers, ``ringmo`` subprocesses) inherit.
"""

from __future__ import annotations

from contextlib import contextmanager

from werkzeug.serving import make_server

from tests.support.http_server import ServedBytes, serving


def _counting(app, served: ServedBytes):
    def middleware(environ, start_response):
        body = app(environ, start_response)
        if environ.get("REQUEST_METHOD") != "GET" or "list-type" in environ.get("QUERY_STRING", ""):
            return body
        chunks = list(body)
        served.add(sum(len(c) for c in chunks))
        return chunks
    return middleware


@contextmanager
def serve_s3():
    """Run moto's S3 on 127.0.0.1 (a free port); yields (endpoint_url, ServedBytes)."""
    from moto.moto_server.werkzeug_app import (DomainDispatcherApplication, MotoRequestHandler,
                                               create_backend_app)

    class QuietHandler(MotoRequestHandler):
        def log_request(self, *args) -> None:  # keep test output clean
            pass

    served = ServedBytes()
    app = _counting(DomainDispatcherApplication(create_backend_app), served)
    with serving(make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)) as endpoint:
        yield endpoint, served
