"""A real SMTP server on loopback for the email tests and the email benchmark: aiosmtpd in a
thread of the test process, recording every message it accepts.

    peer = SmtpPeer().start()                  # accepts everything
    peer.mode = "refuse"; peer.reply = "451 4.3.0 Try again later"   # answer DATA with this
    peer.mode = "hang"                         # never answer DATA
    peer.mode = "hold"; peer.release.set()     # answer DATA once the test releases it
    SmtpPeer(tls_dir=workdir, auth=("user", "secret")).start()   # STARTTLS required, AUTH
    peer.messages                              # [Received(mail_from, rcpt_tos, data, login)]
    peer.stop()

The TLS variant makes a self-signed certificate for 127.0.0.1 with the openssl CLI; its path
is peer.cert (give it to nexusd as smtp.ca_file).
"""
import asyncio
import collections
import os
import socket
import ssl
import subprocess
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

Received = collections.namedtuple("Received", "mail_from rcpt_tos data login")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_cert(directory):
    """A self-signed certificate and key for 127.0.0.1; returns (cert, key) paths."""
    cert = os.path.join(directory, "smtp-cert.pem")
    key = os.path.join(directory, "smtp-key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    return cert, key


class _Handler:
    def __init__(self, peer):
        self.peer = peer

    async def handle_DATA(self, server, session, envelope):
        peer = self.peer
        with peer.lock:
            peer.data_commands += 1
        if peer.mode == "hang":
            await asyncio.sleep(3600)
        while peer.mode == "hold" and not peer.release.is_set():
            await asyncio.sleep(0.02)
        if peer.mode == "refuse":
            return peer.reply
        login = session.auth_data.login.decode() if isinstance(session.auth_data,
                                                               LoginPassword) else None
        with peer.lock:
            peer.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos),
                                          envelope.original_content or envelope.content, login))
        return "250 2.0.0 Ok: queued as %d" % len(peer.messages)


class SmtpPeer:
    def __init__(self, tls_dir=None, auth=None, port=None):
        self.port = port or free_port()
        self.mode = "accept"  # "accept" | "refuse" | "hang" | "hold"
        self.release = threading.Event()  # ends "hold"
        self.reply = "451 4.3.0 Try again later"
        self.messages = []
        self.data_commands = 0  # DATA commands seen, whatever the answer
        self.lock = threading.Lock()
        self.auth = auth
        self.cert = None
        self.controller = None
        kw = {}
        if tls_dir:
            self.cert, key = make_cert(tls_dir)
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(self.cert, key)
            kw.update(tls_context=ctx, require_starttls=True)
        if auth:
            kw.update(authenticator=self._authenticate, auth_require_tls=bool(tls_dir),
                      auth_required=True)
        self.kw = kw

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword)
              and (auth_data.login.decode(), auth_data.password.decode()) == self.auth)
        # handled=False: aiosmtpd then answers 535 itself (its default leaves the client waiting)
        return AuthResult(success=ok, handled=False, auth_data=auth_data)

    @property
    def url(self):
        return "smtp://127.0.0.1:%d" % self.port

    def start(self):
        self.controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port,
                                     ready_timeout=10, **self.kw)
        self.controller.start()
        return self

    def stop(self):
        if self.controller:
            self.controller.stop()
            self.controller = None

    def count(self):
        with self.lock:
            return len(self.messages)
