# SPDX-License-Identifier: Apache-2.0
"""The loopback HTTP receiver of the export, status and deploy tests and of kiln-bench outage
(bench/outage.py imports it from here: the bench drives the same exporter against the same
kind of receiver, and tests/lib is the one folder both reach from the source tree).

serve_posts() runs the server; what a POST gets back is decided by the caller's handler.
exp_check() decodes one body with tests/export's exp_check."""
import http.server
import os
import subprocess
import tempfile
import threading


class PostServer:
    """An HTTP/1.1 server on 127.0.0.1:PORT (0: any free port, read back from .port), each
    request in its own daemon thread. HANDLE(req, body) is called for every POST with the
    request handler (its .headers, .path) and the body read whole; it returns (status,
    extra headers as a dict, response body bytes). SSL_CONTEXT (server side) makes it HTTPS;
    QUIET drops the server's reports of failed connections (e.g. handshakes a client
    refuses). stop() closes the port: connections are refused from then on."""

    def __init__(self, handle, port=0, ssl_context=None, quiet=False):
        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status, extra, text = handle(self, body)
                try:
                    self.send_response(status)
                    for k, v in extra.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(text)))
                    self.end_headers()
                    self.wfile.write(text)
                except OSError:
                    pass  # the client gave up (a timeout it was told to have): nothing to say

        class S(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                if not quiet:
                    super().handle_error(request, client_address)

        self.srv = S(("127.0.0.1", port), H)
        if ssl_context:
            self.srv.socket = ssl_context.wrap_socket(self.srv.socket, server_side=True)
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()


def exp_check(check, tmp, body, encoding, *args):
    """Runs exp_check (path CHECK) on BODY, written to a file of its own under TMP and removed
    after, as sent with Content-Encoding ENCODING ("" when none), with ARGS (e.g.
    "--profiles"). Returns the finished subprocess (text stdout/stderr)."""
    fd, path = tempfile.mkstemp(prefix="req-", suffix=".bin", dir=tmp)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(body)
        return subprocess.run([check, path, encoding] + list(args), capture_output=True,
                              text=True)
    finally:
        os.unlink(path)
