"""FakeOpenAIServer: a real OpenAI-compatible HTTP server on 127.0.0.1 for tests and benchmarks.

Standard library only: a :class:`http.server.ThreadingHTTPServer` on a free port, served from a
daemon thread. It answers ``/v1/chat/completions`` (``n`` choices, usage), ``/v1/completions``
(legacy text completions) and ``/v1/models``. Faults queued with :meth:`FakeOpenAIServer.add_faults`
are consumed one per completion request, in order; random faults (``fault_rate``), ``rpm`` and
``tpm`` limits and simulated latency serve benchmarks. What happens to a request before it is
answered (records, faults, rate limits) is :class:`~apo_core.testing.admission.Admission`'s;
this module speaks HTTP. Only request bodies are recorded, never headers, so an API key sent by
a client can never leak through the server's records.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Collection, Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from apo_core.testing.admission import Admission, RateLimited
from apo_core.testing.wire import (
    DEFAULT_RANDOM_FAULTS,
    Fault,
    Responder,
    completion_body,
    echo_responder,
    error_body,
)

__all__ = ["DEFAULT_RANDOM_FAULTS", "FakeOpenAIServer", "Fault", "Responder", "echo_responder"]


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # Answers go out in one write; without this, Nagle's algorithm and delayed ACKs add
        # ~40 ms to every keep-alive request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        with contextlib.suppress(OSError):  # the client or stop() closed the connection first
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request stderr log."""

    def do_GET(self) -> None:
        fake = self.server.fake
        if self.path.rstrip("/") in ("/v1/models", "/models"):
            fake._count("models")
            body = {
                "object": "list",
                "data": [{"id": fake.model, "object": "model", "created": 0, "owned_by": "fake"}],
            }
            self._send_json(200, body)
        else:
            self._send_error(404, f"no route {self.path}")

    def do_POST(self) -> None:
        fake = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        path = self.path.rstrip("/")
        if path not in ("/v1/chat/completions", "/v1/completions"):
            self._send_error(404, f"no route {self.path}")
            return
        try:
            body = json.loads(raw or b"{}")
            if not isinstance(body, dict):
                raise ValueError("the body is not a JSON object")
        except ValueError as exc:
            self._send_error(400, f"invalid JSON body: {exc}")
            return
        chat = path.endswith("chat/completions")
        try:
            fake._serve(self, body, chat)
        except OSError:  # the client gave up (timeout) or the server is stopping
            self.close_connection = True

    def _send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self._send_raw(status, data, headers)

    def _send_raw(
        self,
        status: int,
        data: bytes,
        headers: dict[str, str] | None = None,
        *,
        length: int | None = None,
    ) -> None:
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Unknown"
        lines = [
            f"{self.protocol_version} {status} {phrase}",
            "Server: FakeOpenAIServer",
            f"Date: {self.date_time_string()}",
            "Content-Type: application/json",
            f"Content-Length: {len(data) if length is None else length}",
            *(f"{name}: {value}" for name, value in (headers or {}).items()),
        ]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head + data)  # status, headers and body in one write
        self.wfile.flush()

    def _send_error(
        self,
        status: int,
        message: str,
        headers: dict[str, str] | None = None,
        code: str | None = None,
    ) -> None:
        self._send_json(status, error_body(status, message, code), headers)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # The default listen backlog of 5 drops the SYNs of a burst of new connections, and each
    # dropped one costs the client a 1 s retransmit: benchmarks open dozens at once.
    request_queue_size = 1024

    def __init__(self, fake: FakeOpenAIServer) -> None:
        self.fake = fake
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)


class FakeOpenAIServer(Admission):
    """An OpenAI-compatible server on 127.0.0.1 with scripted faults; a context manager.

    Args:
        responder: ``responder(body) -> str`` makes each choice's text; default
            :func:`echo_responder`.
        model: the model id served by ``/v1/models`` (replies echo the requested model).
        latency_s: seconds every completion request waits before answering.
        latency_per_token_s: extra seconds per completion token of the reply.
        fault_rate: probability that a request (without a queued fault) gets a random fault
            drawn from ``random_faults``; seeded by ``seed``.
        random_faults: the faults drawn from when ``fault_rate`` > 0.
        rpm: requests per minute; requests over it get 429 with a ``Retry-After`` header.
        tpm: tokens (prompt + completion) per minute of answered requests; a request arriving
            while the last minute's answers used ``tpm`` tokens or more gets 429 likewise.
        window_s: the sliding window over which ``rpm`` and ``tpm`` are enforced, pro rata
            (``rpm * window_s / 60`` requests per window), as providers that enforce a minute's
            quota per second do; default a minute. Tests shorten it to stay fast.
        ignore_n: answer with one choice whatever ``n`` asks (like llama.cpp or Ollama).
        reject_response_formats: ``response_format`` types (``"json_schema"``,
            ``"json_object"``) answered with 400, like servers that lack them.
        seed: seeds the random faults.

    Example:
        >>> with FakeOpenAIServer() as server:  # doctest: +SKIP
        ...     model = OpenAIChatModel("fake-model", base_url=server.base_url)
    """

    def __init__(
        self,
        responder: Responder | None = None,
        *,
        model: str = "fake-model",
        latency_s: float = 0.0,
        latency_per_token_s: float = 0.0,
        fault_rate: float = 0.0,
        random_faults: Sequence[Fault] = DEFAULT_RANDOM_FAULTS,
        rpm: float | None = None,
        tpm: float | None = None,
        window_s: float = 60.0,
        ignore_n: bool = False,
        reject_response_formats: Collection[str] = (),
        seed: int = 0,
    ) -> None:
        super().__init__(
            fault_rate=fault_rate,
            random_faults=random_faults,
            rpm=rpm,
            tpm=tpm,
            window_s=window_s,
            seed=seed,
        )
        self.responder: Responder = responder or echo_responder
        self.model = model
        self.latency_s = latency_s
        self.latency_per_token_s = latency_per_token_s
        self.ignore_n = ignore_n
        self.reject_response_formats = frozenset(reject_response_formats)
        self._closing = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> FakeOpenAIServer:
        """Bind a free port on 127.0.0.1 and serve from a daemon thread."""
        if self._httpd is not None:
            return self
        self._closing.clear()
        self._httpd = _HTTPServer(self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="FakeOpenAIServer",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and free the port (pending delays are cut short)."""
        self._closing.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            with self._httpd.connections_lock:  # end idle keep-alive connections too
                for conn in self._httpd.connections:
                    with contextlib.suppress(OSError):
                        conn.shutdown(socket.SHUT_RDWR)
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound port (the server must be started)."""
        if self._httpd is None:
            raise RuntimeError("the FakeOpenAIServer is not running")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``: pass it as ``base_url`` to an OpenAI client."""
        return f"http://127.0.0.1:{self.port}/v1"

    # -- serving --------------------------------------------------------------------------

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._closing.wait(seconds)

    def _serve(self, handler: _Handler, body: dict[str, Any], chat: bool) -> None:
        fault, limited = self._admit(body, chat)
        try:
            self._answer(handler, body, chat, fault, limited)
        finally:
            self._finished()

    def _answer(
        self,
        handler: _Handler,
        body: dict[str, Any],
        chat: bool,
        fault: Fault | None,
        limited: RateLimited | None,
    ) -> None:
        if fault is not None:
            self._count("faults")
            self._sleep(fault.delay)
            if fault.status is not None:
                headers = {}
                if fault.retry_after is not None:
                    headers["Retry-After"] = f"{fault.retry_after:g}"
                message = fault.message or f"injected fault: HTTP {fault.status}"
                handler._send_error(fault.status, message, headers, fault.code)
                return
            if fault.malformed:
                handler._send_raw(200, b'{"id": "broken", "choices": [ this is not json')
                return
            if fault.truncated:
                data = json.dumps(self._reply(body, chat)).encode()
                handler._send_raw(200, data[: len(data) // 2], length=len(data))
                handler.close_connection = True
                return
            if fault.empty_choices:
                reply = self._reply(body, chat, texts=[])
                handler._send_json(200, reply)
                return
        if limited is not None:
            self._count("rate_limited")
            handler._send_error(
                429,
                f"rate limit of {limited.limit} per minute reached (window {self.window_s:g}s)",
                {"Retry-After": f"{limited.retry_after:.3f}"},
            )
            return
        fmt = body.get("response_format")
        fmt_type = fmt.get("type") if isinstance(fmt, dict) else None
        if fmt_type in self.reject_response_formats:
            handler._send_error(400, f"response_format type {fmt_type!r} is not supported")
            return
        if body.get("stream"):
            handler._send_error(400, "streaming is not supported by FakeOpenAIServer")
            return
        try:
            reply = self._reply(body, chat)
        except Exception as exc:  # a broken responder is a server error, not a dropped socket
            self._count("responder_errors")
            handler._send_error(500, f"the responder failed: {type(exc).__name__}: {exc}")
            return
        tokens = reply["usage"]["completion_tokens"]
        self._sleep(self.latency_s + self.latency_per_token_s * tokens)
        handler._send_json(200, reply)
        self._answered_ok(body, int(reply["usage"]["total_tokens"]))

    def _texts(self, body: dict[str, Any]) -> list[str]:
        n = 1 if self.ignore_n else max(int(body.get("n") or 1), 1)
        texts = []
        for i in range(n):
            choice_body = body
            if i and isinstance(body.get("seed"), int):  # like a server: one seed per choice
                choice_body = {**body, "seed": body["seed"] + i}
            texts.append(self.responder(choice_body))
        return texts

    def _reply(
        self, body: dict[str, Any], chat: bool, texts: list[str] | None = None
    ) -> dict[str, Any]:
        if texts is None:
            texts = self._texts(body)
        with self._lock:
            number = len(self._requests)
        return completion_body(body, chat, texts, model=self.model, number=number)
