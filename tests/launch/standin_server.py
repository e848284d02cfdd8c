"""A stand-in for ``vllm serve`` / ``lmdeploy serve api_server``: serves ``GET /v1/models`` on the given port.

Run as an executable by the launch tests (the test writes it out with a ``#!`` line for
this Python). It reads the port, host and served name from the same flags the real
stacks take, writes its argv as JSON to ``$STANDIN_ARGV`` so a test can compare it with
the command that was built, and then acts as ``$STANDIN_MODE`` says:

- ``once`` (default): answer ``/v1/models`` (503 for the first request, as a loading
  server does), exit 0 after the first 200;
- ``fail``: exit 3 at once; ``mute``: never listen (sleep).
"""

import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer


def flag(argv, *names, default=None):
    for index, arg in enumerate(argv):
        if arg in names and index + 1 < len(argv):
            return argv[index + 1]
    return default


def main():
    argv = sys.argv[1:]
    if os.environ.get("STANDIN_ARGV"):
        with open(os.environ["STANDIN_ARGV"], "w", encoding="utf-8") as out:
            json.dump(argv, out)
    mode = os.environ.get("STANDIN_MODE", "once")
    if mode == "fail":
        sys.exit(3)
    if mode == "mute":
        time.sleep(3600)
    port = int(flag(argv, "--port", "--server-port"))
    host = flag(argv, "--host", "--server-name", default="127.0.0.1")
    served = flag(argv, "--served-model-name", "--model-name", "--alias")
    state = {"asked": 0, "done": False}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            state["asked"] += 1
            if self.path != "/v1/models" or state["asked"] == 1:
                self.send_response(503 if self.path == "/v1/models" else 404)
                self.end_headers()
                return
            body = json.dumps({"object": "list", "data": [{"id": served, "object": "model", "owned_by": "vllm"}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            state["done"] = True

        def log_message(self, *args):
            pass

    server = HTTPServer((host, port), Handler)
    while not state["done"]:
        server.handle_request()
    server.server_close()


if __name__ == "__main__":
    main()
