"""Load for the benchmarks: wrk processes bounded by a signal, and a pool of Python HTTP clients that keep cookies.

wrk is fast but cannot keep cookies, so sticky clients are Python threads: each has one keep-alive connection and
its own cookie jar, and records every answer (when it was sent, latency, status, which instance answered, or the
error). Nothing here retries: a request that fails is counted, never hidden.
"""

from __future__ import annotations

import http.client
import math
import random
import re
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

WRK_ERROR_KINDS = ("connect", "read", "write", "timeout")
_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


# -- wrk -----------------------------------------------------------------------------------------------------------


@dataclass
class WrkResult:
    """What one wrk run reported. `errors` are socket errors by kind; `non_2xx` counts answers outside 2xx/3xx."""

    label: str
    requests: int
    seconds: float
    errors: dict
    non_2xx: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    output: str = ""

    @property
    def failed(self) -> int:
        return sum(self.errors.values()) + self.non_2xx

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def _duration_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not match:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match.group(1)) * _UNIT_MS[match.group(2)]


def parse_wrk(label: str, output: str) -> WrkResult:
    """The numbers of wrk's `--latency` report. Raises ValueError when the report is incomplete."""
    total = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", output)
    if not total:
        raise ValueError(f"wrk printed no summary:\n{output}")
    errors = dict.fromkeys(WRK_ERROR_KINDS, 0)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if socket_errors:
        errors = dict(zip(WRK_ERROR_KINDS, (int(value) for value in socket_errors.groups())))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    percentiles = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", output, re.MULTILINE))
    latency = re.search(r"Latency\s+\S+\s+\S+\s+(\S+)", output)
    return WrkResult(label=label, requests=int(total.group(1)), seconds=_duration_ms(total.group(2) + total.group(3)) / 1000,
                     errors=errors, non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
                     p50_ms=_duration_ms(percentiles["50"]) if "50" in percentiles else math.nan,
                     p99_ms=_duration_ms(percentiles["99"]) if "99" in percentiles else math.nan,
                     max_ms=_duration_ms(latency.group(1)) if latency else math.nan, output=output)


class Wrk:
    """One wrk process that runs until `stop()` (SIGINT makes wrk print its report), at most `max_seconds`."""

    def __init__(self, label: str, url: str, connections: int, *, new_connection_per_request: bool = False,
                 timeout: str = "2s", max_seconds: int = 900, prefix: list | None = None, env: dict | None = None):
        """`prefix` runs wrk through another command that execs it (e.g. nsenter into a lab host), so the signal
        still reaches wrk itself."""
        self.label = label
        argv = list(prefix or []) + ["wrk", "-t1", f"-c{connections}", f"-d{max_seconds}s", "--latency", "--timeout", timeout]
        if new_connection_per_request:
            argv += ["-H", "Connection: close"]
        self.argv = argv + [url]
        self.env = env
        self.process: subprocess.Popen | None = None

    def start(self) -> "Wrk":
        self.process = subprocess.Popen(self.argv, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,  # pylint: disable=consider-using-with
                                        text=True)
        return self

    def stop(self, timeout: float = 30.0) -> WrkResult:
        if self.process is None:
            raise RuntimeError(f"{self.label} was not started")
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        output = self.process.communicate(timeout=timeout)[0]
        return parse_wrk(self.label, output)

    def kill(self) -> None:
        """Cleanup after an error: this process only, by its pid."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


# -- Python clients with cookies -----------------------------------------------------------------------------------


@dataclass
class Answer:
    client: str
    sent: float
    latency: float
    status: int | None
    instance: str | None
    error: str | None


def _cookies_from(response: http.client.HTTPResponse) -> dict:
    jar = {}
    for key, value in response.getheaders():
        if key.lower() == "set-cookie":
            name, _sep, rest = value.partition("=")
            jar[name.strip()] = rest.split(";", 1)[0].strip()
    return jar


def cookie_header(jar: dict) -> str:
    return "; ".join(f"{name}={value}" for name, value in sorted(jar.items()))


class CookieClient(threading.Thread):
    """A browser-like client: one keep-alive connection, a cookie jar (unless `keep_cookies` is off, then every request
    is a new visitor), requests one after another until stopped. With `think` (min, max seconds) it waits a random
    time between requests, leaving its connection idle as a person reading a page does."""

    def __init__(self, name: str, host: str, port: int, sink: list, *, keep_cookies: bool = True, jar: dict | None = None,
                 timeout: float = 2.0, path: str = "/", think: tuple | None = None):
        super().__init__(name=name, daemon=True)
        self.host, self.port, self.path, self.timeout = host, port, path, timeout
        self.sink = sink
        self.keep_cookies = keep_cookies
        self.jar = dict(jar or {})
        self.think = think
        self.random = random.Random(name)
        self.stopping = threading.Event()

    def run(self) -> None:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            while not self.stopping.is_set():
                connection = self._one(connection)
                if self.think:
                    self.stopping.wait(self.random.uniform(*self.think))
        finally:
            connection.close()

    def _one(self, connection: http.client.HTTPConnection) -> http.client.HTTPConnection:
        headers = {"Cookie": cookie_header(self.jar)} if self.jar else {}
        sent = time.time()
        started = time.perf_counter()
        try:
            connection.request("GET", self.path, headers=headers)
            response = connection.getresponse()
            response.read()
        except (OSError, http.client.HTTPException) as exc:
            self.sink.append(Answer(self.name, sent, time.perf_counter() - started, None, None, _error_kind(exc)))
            connection.close()
            return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        self.sink.append(Answer(self.name, sent, time.perf_counter() - started, response.status,
                                response.getheader("X-Drover-Instance"), None))
        if self.keep_cookies:
            self.jar.update(_cookies_from(response))
        return connection

    def stop(self) -> None:
        self.stopping.set()


def _error_kind(exc: BaseException) -> str:
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timeout"
    if isinstance(exc, ConnectionRefusedError):
        return "connect"
    if isinstance(exc, (http.client.RemoteDisconnected, ConnectionResetError, http.client.IncompleteRead)):
        return "read"
    if isinstance(exc, BrokenPipeError):
        return "write"
    return type(exc).__name__


@dataclass
class PoolStats:
    requests: int
    errors: dict
    non_2xx: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    by_status: dict = field(default_factory=dict)

    @property
    def failed(self) -> int:
        return sum(self.errors.values()) + self.non_2xx


def percentile(values: list, fraction: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


def pool_stats(answers: list) -> PoolStats:
    latencies = [answer.latency * 1000 for answer in answers if answer.error is None]
    errors = Counter(answer.error for answer in answers if answer.error is not None)
    statuses = Counter(answer.status for answer in answers if answer.status is not None)
    return PoolStats(requests=len(answers), errors=dict(errors),
                     non_2xx=sum(count for status, count in statuses.items() if not 200 <= status < 300),
                     p50_ms=percentile(latencies, 0.50), p99_ms=percentile(latencies, 0.99),
                     max_ms=max(latencies) if latencies else math.nan, by_status=dict(statuses))


class CookiePool:
    """Cookie clients that share one answer list. Clients can join while the pool runs (pinned clients)."""

    def __init__(self, host: str, port: int, timeout: float = 2.0):
        self.host, self.port, self.timeout = host, port, timeout
        self.answers: list = []
        self.clients: list[CookieClient] = []

    def add(self, name: str, *, keep_cookies: bool = True, jar: dict | None = None, think: tuple | None = None) -> CookieClient:
        client = CookieClient(name, self.host, self.port, self.answers, keep_cookies=keep_cookies, jar=jar, timeout=self.timeout,
                              think=think)
        self.clients.append(client)
        client.start()
        return client

    def stop(self, clients: list | None = None, timeout: float = 10.0) -> None:
        chosen = self.clients if clients is None else clients
        for client in chosen:
            client.stop()
        for client in chosen:
            client.join(timeout=timeout)

    def stats(self) -> PoolStats:
        return pool_stats(list(self.answers))


def fresh_get(host: str, port: int, timeout: float = 2.0, jar: dict | None = None) -> tuple[int, str | None, dict]:
    """One request from a new visitor on a new connection: status, answering instance, the cookies it was given."""
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("GET", "/", headers={"Cookie": cookie_header(jar)} if jar else {})
        response = connection.getresponse()
        response.read()
        return response.status, response.getheader("X-Drover-Instance"), _cookies_from(response)
    finally:
        connection.close()
