"""FakeOpenAIServer: a real OpenAI-compatible HTTP server on 127.0.0.1 for tests and benchmarks.

Standard library only: a :class:`http.server.ThreadingHTTPServer` on a free port, served from a
daemon thread. It answers ``/v1/chat/completions`` (``n`` choices, usage), ``/v1/completions``
(legacy text completions) and ``/v1/models``. Faults queued with :meth:`FakeOpenAIServer.add_faults`
are consumed one per completion request, in order; random faults (``fault_rate``), an ``rpm``
limit and simulated latency serve benchmarks. Only request bodies are recorded, never headers,
so an API key sent by a client can never leak through the server's records.
"""

from __future__ import annotations

import contextlib
import json
import random
import socket
import threading
import time
from collections import deque
from collections.abc import Collection, Iterable, Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

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


class FakeOpenAIServer:
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
        if not 0.0 <= fault_rate <= 1.0:
            raise ValueError("fault_rate must be in [0, 1]")
        if rpm is not None and rpm <= 0:
            raise ValueError("rpm must be positive")
        if tpm is not None and tpm <= 0:
            raise ValueError("tpm must be positive")
        if window_s <= 0:
            raise ValueError("window_s must be positive")
        self.responder: Responder = responder or echo_responder
        self.model = model
        self.latency_s = latency_s
        self.latency_per_token_s = latency_per_token_s
        self.fault_rate = fault_rate
        self.random_faults = tuple(random_faults)
        self.rpm = rpm
        self.tpm = tpm
        self.window_s = window_s
        self._token_window: deque[tuple[float, int]] = deque()
        self.ignore_n = ignore_n
        self.reject_response_formats = frozenset(reject_response_formats)
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._faults: deque[Fault] = deque()
        self._window: deque[float] = deque()
        self._requests: list[dict[str, Any]] = []
        self._answered: list[dict[str, Any]] = []
        self._counts: dict[str, int] = {}
        self._in_flight = 0
        self._max_in_flight = 0
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

    # -- faults and records ---------------------------------------------------------------

    def add_faults(self, *faults: Fault | Iterable[Fault]) -> None:
        """Queue faults; each completion request consumes the next one."""
        with self._lock:
            for fault in faults:
                if isinstance(fault, Fault):
                    self._faults.append(fault)
                else:
                    self._faults.extend(fault)

    @property
    def pending_faults(self) -> int:
        """Queued faults not consumed yet."""
        with self._lock:
            return len(self._faults)

    @property
    def requests(self) -> list[dict[str, Any]]:
        """The JSON bodies of the completion requests received, in order (a copy)."""
        with self._lock:
            return list(self._requests)

    @property
    def answered(self) -> list[dict[str, Any]]:
        """The JSON bodies of the requests answered successfully (200 with choices), in the
        order the answers were sent (a copy): what a provider would bill."""
        with self._lock:
            return list(self._answered)

    @property
    def request_count(self) -> int:
        """Completion requests received (chat and legacy)."""
        with self._lock:
            return len(self._requests)

    @property
    def counts(self) -> dict[str, int]:
        """Counters: ``chat``, ``completions``, ``models``, ``faults``, ``rate_limited``, ``ok``,
        ``responder_errors``."""
        with self._lock:
            return dict(self._counts)

    @property
    def max_in_flight(self) -> int:
        """The most completion requests that were being answered at once."""
        with self._lock:
            return self._max_in_flight

    def reset(self) -> None:
        """Forget recorded requests, counters and queued faults."""
        with self._lock:
            self._requests.clear()
            self._answered.clear()
            self._counts.clear()
            self._faults.clear()
            self._window.clear()
            self._token_window.clear()
            self._max_in_flight = self._in_flight

    # -- serving --------------------------------------------------------------------------

    def _count(self, name: str, by: int = 1) -> None:
        with self._lock:
            self._counts[name] = self._counts.get(name, 0) + by

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._closing.wait(seconds)

    def _admit(
        self, body: dict[str, Any], chat: bool
    ) -> tuple[Fault | None, tuple[float, str] | None]:
        """Record the request; return its fault and, if over the RPM or TPM limit, the wait
        and the limit's name."""
        with self._lock:
            self._requests.append(body)
            key = "chat" if chat else "completions"
            self._counts[key] = self._counts.get(key, 0) + 1
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
            fault = self._faults.popleft() if self._faults else None
            if fault is None and self.fault_rate and self._rng.random() < self.fault_rate:
                fault = self._rng.choice(self.random_faults) if self.random_faults else None
            wait: tuple[float, str] | None = None
            span, scale = self.window_s, self.window_s / 60.0
            if self.rpm is not None:
                now = time.monotonic()
                while self._window and now - self._window[0] >= span:
                    self._window.popleft()
                if len(self._window) >= self.rpm * scale:
                    wait = (max(span - (now - self._window[0]), 0.001), f"{self.rpm:g} requests")
                else:
                    self._window.append(now)
            if self.tpm is not None and wait is None:
                now = time.monotonic()
                while self._token_window and now - self._token_window[0][0] >= span:
                    self._token_window.popleft()
                if sum(n for _, n in self._token_window) >= self.tpm * scale:
                    left = span - (now - self._token_window[0][0])
                    wait = (max(left, 0.001), f"{self.tpm:g} tokens")
            return fault, wait

    def _serve(self, handler: _Handler, body: dict[str, Any], chat: bool) -> None:
        fault, rate_wait = self._admit(body, chat)
        try:
            self._answer(handler, body, chat, fault, rate_wait)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _answer(
        self,
        handler: _Handler,
        body: dict[str, Any],
        chat: bool,
        fault: Fault | None,
        rate_wait: tuple[float, str] | None,
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
        if rate_wait is not None:
            self._count("rate_limited")
            seconds, limit = rate_wait
            handler._send_error(
                429,
                f"rate limit of {limit} per minute reached (window {self.window_s:g}s)",
                {"Retry-After": f"{seconds:.3f}"},
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
        with self._lock:
            self._answered.append(body)
            self._token_window.append((time.monotonic(), int(reply["usage"]["total_tokens"])))
            self._counts["ok"] = self._counts.get("ok", 0) + 1

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
