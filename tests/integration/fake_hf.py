"""A local stand-in for the Hugging Face Inference API, for emotion.analyze's tests.

The real endpoint (router.huggingface.co) cannot be reached from the test machines, so this
is a fake of that one external API only: a real HTTP/1.1 server on 127.0.0.1 (a free port,
one thread per connection) that answers POST /models/<org>/<name> the way the API does:

  - 401 {"error": "Invalid credentials in Authorization header"} without the expected
    "Authorization: Bearer <token>";
  - 400 {"error": ...} for a body that is not {"inputs": "<text>", ...};
  - 200 [[{"label": "joy", "score": 0.93}, ...]]: the seven labels of
    j-hartmann/emotion-english-distilroberta-base, scores summing to 1, the top label chosen
    from words of the text ("happy" -> joy, "sad" -> sadness, ...), else from its hash.

A test makes it misbehave for one text: fake.script(text, step, step, ...) queues one step
per request for that text (then answers normally again). Steps:
  ("ok",)                       the normal answer; ("flat",): the same, not nested
  ("loading", seconds)          503 {"error": "Model ... is currently loading",
                                      "estimated_time": seconds}
  ("rate_limited", retry_after) 429 {"error": "Rate limit reached"} with Retry-After
                                retry_after (a str sent as is; None: no header)
  ("unavailable", retry_after)  503 {"error": "Service Unavailable"}, no estimated_time;
                                Retry-After retry_after unless it is left out or None
  ("slow", seconds)             sleeps, then answers normally
  ("status", code, body)        that status and body (bytes or str)
  ("invalid_json",)             200 with a body that is not JSON
  ("wrong_shape",)              200 [{"label": "joy", "score": "high"}]
  ("huge", megabytes)           200 with a body that size (chunks of JSON-looking bytes)
  ("close",)                    reads the request and closes the connection, answering nothing

fake.requests holds every request received: dicts with path, headers (lower-case names),
json (the parsed body or None) and text (the "inputs").
"""
import hashlib
import http.server
import json
import socketserver
import threading
import time

LABELS = ["anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise"]
WORDS = {"happy": "joy", "love": "joy", "sad": "sadness", "angry": "anger", "afraid": "fear",
         "gross": "disgust", "wow": "surprise"}


def scores_for(text):
    """The fake model: deterministic scores for `text`, highest first, summing to 1."""
    digest = hashlib.sha256(text.encode()).digest()
    top = next((label for word, label in WORDS.items() if word in text.lower()),
               LABELS[digest[0] % len(LABELS)])
    rest = [label for label in LABELS if label != top]
    weights = [1 + digest[i + 1] % 50 for i in range(len(rest))]
    left = 0.25
    scores = {top: 0.75}
    for label, w in zip(rest, weights):
        scores[label] = left * w / sum(weights)
    return sorted(({"label": k, "score": round(v, 6)} for k, v in scores.items()),
                  key=lambda e: -e["score"])


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def _send(self, status, body, headers=()):
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        fake = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        text = body.get("inputs") if isinstance(body, dict) else None
        fake._record({"path": self.path, "json": body, "text": text,
                      "headers": {k.lower(): v for k, v in self.headers.items()},
                      "at": time.time()})
        if self.headers.get("Authorization") != "Bearer " + fake.token:
            return self._send(401, {"error": "Invalid credentials in Authorization header"})
        if not self.path.startswith("/models/"):
            return self._send(404, {"error": "Model not found"})
        if not isinstance(text, str):
            return self._send(400, {"error": "Input should be a valid string"})
        step = fake._next_step(text)
        getattr(self, "_step_" + step[0])(text, *step[1:])

    def _step_ok(self, text):
        self._send(200, [scores_for(text)])

    def _step_flat(self, text):
        self._send(200, scores_for(text))

    def _step_loading(self, text, seconds):
        model = self.path[len("/models/"):]
        self._send(503, {"error": "Model %s is currently loading" % model,
                         "estimated_time": seconds})

    def _step_rate_limited(self, text, retry_after):
        headers = [("Retry-After", retry_after)] if retry_after is not None else []
        self._send(429, {"error": "Rate limit reached. You reached free usage limit"}, headers)

    def _step_unavailable(self, text, retry_after=None):
        headers = [("Retry-After", retry_after)] if retry_after is not None else []
        self._send(503, {"error": "Service Unavailable"}, headers)

    def _step_slow(self, text, seconds):
        time.sleep(seconds)
        try:
            self._step_ok(text)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up first, as it should

    def _step_status(self, text, code, body):
        self._send(code, body)

    def _step_invalid_json(self, text):
        self._send(200, "<html><body>502 Bad Gateway</body></html>\n\x01")

    def _step_wrong_shape(self, text):
        self._send(200, [{"label": "joy", "score": "high"}])

    def _step_huge(self, text, megabytes):
        chunk = b'[{"label":"joy","score":0.5},' * 2048
        total = megabytes << 20
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(total))
        self.end_headers()
        sent = 0
        try:
            while sent < total:
                piece = chunk[:total - sent]
                self.wfile.write(piece)
                sent += len(piece)
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.server.fake.huge_sent = sent

    def _step_close(self, text):
        self.close_connection = True
        self.connection.shutdown(2)


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class FakeHF:
    """The fake endpoint; use as a context manager or call start()/stop()."""

    def __init__(self, token="hf_test_token_0123456789"):
        self.token = token
        self.requests = []
        self.huge_sent = 0
        self._scripts = {}
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        self._thread = None

    @property
    def url(self):
        return "http://127.0.0.1:%d/models" % self._server.server_address[1]

    def start(self):
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def script(self, text, *steps):
        with self._lock:
            self._scripts.setdefault(text, []).extend(steps)

    def requests_for(self, text):
        with self._lock:
            return [r for r in self.requests if r["text"] == text]

    def _record(self, request):
        with self._lock:
            self.requests.append(request)

    def _next_step(self, text):
        with self._lock:
            steps = self._scripts.get(text)
            return steps.pop(0) if steps else ("ok",)
