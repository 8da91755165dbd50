"""A real HTTP server on loopback for the webhook tests and bench: it records every request
and answers with what the test scripted (status, headers, body, delay)."""
import http.server
import socketserver
import threading
import time


class Peer:
    """Serves on 127.0.0.1:<free port> in a thread. `answer(request)` returns (status,
    headers dict, body bytes[, delay_s]); the default answers 204."""

    def __init__(self, answer=None):
        self.requests = []
        self.lock = threading.Lock()
        self.answer = answer or (lambda req: (204, {}, b""))
        peer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                req = {"path": self.path, "headers": dict(self.headers.items()), "body": body,
                       "at": time.time()}
                with peer.lock:
                    peer.requests.append(req)
                out = peer.answer(req)
                status, headers, data = out[:3]
                if len(out) > 3 and out[3]:
                    time.sleep(out[3])
                try:
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args):
                pass

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True
            allow_reuse_address = True
            request_queue_size = 256

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def count(self):
        with self.lock:
            return len(self.requests)

    def close(self):
        self.server.shutdown()
        self.server.server_close()
