"""Processes and clients for the hostile-client tests and the scrapers benchmark.

The simulated API and the exporter each run in a child process, as they would in production: in the
process that generates the load, the simulator's JSON encoding would compete with the clients for the
interpreter and make the API look slow. The clients use raw sockets and read into one reused buffer, so
that a dozen of them reading 15 MB answers cost the load generator little.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import re
import resource
import secrets
import select
import socket
import ssl
import statistics
import subprocess
import sys
import threading
import time
from base64 import b64encode
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import bcrypt

REGIONS = ("ap-guangzhou", "ap-shanghai")
COMMAND = [sys.executable, "-m", "exporter"]
REPO = Path(__file__).resolve().parent.parent
REQUEST = b"GET /metrics HTTP/1.1\r\nHost: exporter\r\nAccept-Encoding: identity\r\n\r\n"


def _clean_environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TENCENTCLOUD_", "TIONE_EXPORTER_", "TKE_"))}
    env["HOME"] = str(REPO / "tests" / "fixtures")  # no credentials file of the user's
    env["PYTHONPATH"] = str(REPO)
    return env


def _wait_for(log: Path, pattern: str, process: subprocess.Popen[bytes], timeout: float) -> re.Match[str]:
    deadline = time.monotonic() + timeout
    while (match := re.search(pattern, log.read_text(errors="replace"))) is None:
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"no {pattern!r} in:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.05)
    return match


@dataclass(frozen=True)
class WebFiles:
    """A `--web.config.file` made for a test, and what a client needs to get through it."""

    config: Path
    client: ssl.SSLContext | None
    """Trusts the self-signed certificate (None: plain HTTP)."""
    authorization: str
    """The `Authorization` header line of the configured user (empty: no basic auth)."""


def web_files(directory: Path, *, tls: bool, users: dict[str, str] | None = None, cost: int = 12) -> WebFiles:
    """A web configuration with a fresh self-signed certificate for 127.0.0.1 (`openssl`) and bcrypt hashes
    of `users` (name to password) at `cost`; the client's header is the first user's."""
    lines: list[str] = []
    client: ssl.SSLContext | None = None
    if tls:
        cert, key = directory / "tls.crt", directory / "tls.key"
        subprocess.run(
            [
                *("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"),
                *("-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1"),
                *("-addext", "subjectAltName=IP:127.0.0.1"),
            ],
            check=True,
            capture_output=True,
        )
        lines += ["tls_server_config:", f"  cert_file: {cert}", f"  key_file: {key}"]
        client = ssl.create_default_context(cafile=str(cert))
    authorization = ""
    if users:
        lines.append("basic_auth_users:")
        for name, password in users.items():
            hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=cost)).decode()
            lines.append(f"  {name}: '{hashed}'")
        name, password = next(iter(users.items()))
        authorization = basic_authorization(name, password)
    config = directory / "web-config.yml"
    config.write_text("\n".join(lines) + "\n")
    return WebFiles(config, client, authorization)


def basic_authorization(user: str, password: str) -> str:
    return f"Authorization: Basic {b64encode(f'{user}:{password}'.encode()).decode()}\r\n"


class Simulator:
    """`tione-exporter simulate` in a child process: signed, still (no churn), never throttling."""

    def __init__(self, log: Path, groups: int, regions: tuple[str, ...] = REGIONS) -> None:
        self.secret_id = "AKID" + secrets.token_hex(16)
        self.secret_key = secrets.token_urlsafe(24)
        self.log = log
        args = ["simulate", "--listen", "127.0.0.1:0", "--groups", str(groups), "--regions", ",".join(regions)]
        # `--flag=value`: a random key may begin with "-", which would otherwise read as a flag of its own.
        args += [f"--secret-id={self.secret_id}", f"--secret-key={self.secret_key}", "--rate-limit", "0", "--no-churn"]
        with log.open("wb") as out:
            self.process = subprocess.Popen([*COMMAND, *args], env=_clean_environment(), stdout=out, stderr=out)
        self.url = _wait_for(log, r"url=(\S+)", self.process, 120).group(1)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class Exporter:
    """`tione-exporter run` in a child process against `simulator`, optionally under a descriptor limit."""

    def __init__(
        self,
        simulator: Simulator,
        log: Path,
        *flags: str,
        descriptors: int | None = None,
        regions: tuple[str, ...] = REGIONS,
        ready_timeout: float = 60,
        web: WebFiles | None = None,
        tree: Path | None = None,
    ) -> None:
        """`tree`: another checkout to run the exporter from (this one by default), to compare two
        versions within one run of a benchmark."""
        env = _clean_environment()
        if tree is not None:
            env["PYTHONPATH"] = str(tree)
        env["TENCENTCLOUD_SECRET_ID"] = simulator.secret_id
        env["TENCENTCLOUD_SECRET_KEY"] = simulator.secret_key
        env["TIONE_EXPORTER_TIONE_ENDPOINT"] = simulator.url
        env["TIONE_EXPORTER_MONITOR_ENDPOINT"] = simulator.url
        args = ["run", "--tione.regions", ",".join(regions), "--web.listen-address", "127.0.0.1:0"]
        args += ["--api.rate-limit", "1000", *flags]
        if web is not None:
            args += ["--web.config.file", str(web.config)]
        self.tls = web.client if web is not None else None
        self.headers = web.authorization if web is not None else ""
        self.log = log
        with log.open("wb") as out:
            # `python -m` puts the working directory first on the path: the tree's own package is the one run.
            self.process = subprocess.Popen(
                [*COMMAND, *args], env=env, stdout=out, stderr=out, cwd=tree if tree is not None else REPO
            )
        if descriptors is not None:
            # Set from outside (`prlimit`) right away: the interpreter is still starting, long before it serves.
            resource.prlimit(self.process.pid, resource.RLIMIT_NOFILE, (descriptors, descriptors))
        address = _wait_for(log, r"msg=serving address=(\S+)", self.process, 30).group(1)
        host, port = address.rsplit(":", 1)
        self.address = (host, int(port))
        deadline = time.monotonic() + ready_timeout
        while get(self.address, "/-/ready", tls=self.tls)[0] != 200:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"never ready:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.1)

    def metrics(self) -> str:
        status, body = get(self.address, "/metrics", tls=self.tls, headers=self.headers)
        assert status == 200, status
        return body.decode()

    def total(self, name: str) -> float:
        """The sum of every sample of `name` (label sets added up)."""
        pattern = re.compile(rf"^{re.escape(name)}(?:{{[^}}]*}})? (\S+)$", re.MULTILINE)
        return sum(float(value) for value in pattern.findall(self.metrics()))

    def ups(self) -> list[float]:
        return [float(v) for v in re.findall(r"^tione_up\{[^}]*\} (\S+)$", self.metrics(), re.MULTILINE)]

    def rss(self) -> int:
        """Resident memory in bytes."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        match = re.search(r"VmRSS:\s+(\d+) kB", status)
        assert match is not None
        return int(match.group(1)) * 1024

    def descriptors(self) -> int:
        return len(os.listdir(f"/proc/{self.process.pid}/fd"))

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, timeout: float = 6) -> int | None:
        """SIGTERM; the exit code, or None if it did not exit in time (then killed)."""
        self.process.terminate()
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return None


# --- clients --------------------------------------------------------------------------------------------


def connect(
    address: tuple[str, int], receive_buffer: int | None = None, timeout: float = 5, tls: ssl.SSLContext | None = None
) -> socket.socket | None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if receive_buffer is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.settimeout(timeout)
    try:
        sock.connect(address)
        if tls is not None:
            return tls.wrap_socket(sock, server_hostname=address[0])
    except OSError:
        sock.close()
        return None
    return sock


def read_answer(sock: socket.socket, buffer: bytearray, keep: bool = False) -> tuple[int, int, bytes]:
    """Read one HTTP answer with a Content-Length: (status, body length, body if `keep` else b"")."""
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("closed before the head")
        head += chunk
    head, _, rest = head.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    match = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    length = int(match.group(1)) if match else 0
    kept = [rest] if keep else []
    received = len(rest)
    view = memoryview(buffer)
    while received < length:
        n = sock.recv_into(view, min(len(buffer), length - received))
        if n == 0:
            raise ConnectionError(f"closed after {received} of {length} bytes")
        if keep:
            kept.append(bytes(view[:n]))
        received += n
    return status, received, b"".join(kept)


def get(
    address: tuple[str, int], path: str, timeout: float = 10, tls: ssl.SSLContext | None = None, headers: str = ""
) -> tuple[int, bytes]:
    """One request on a fresh connection: (status, body); (0, b"") when the connection failed. `headers`:
    more header lines, each ending in CRLF."""
    sock = connect(address, timeout=timeout, tls=tls)
    if sock is None:
        return 0, b""
    try:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: exporter\r\nConnection: close\r\n{headers}\r\n".encode())
        status, _, body = read_answer(sock, bytearray(1 << 16), keep=True)
        return status, body
    except OSError:
        return 0, b""
    finally:
        sock.close()


@dataclass
class Tally:
    """What a group of client threads saw."""

    answers: int = 0
    failures: list[str] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def p99(self) -> float:
        values = sorted(self.latencies)
        if not values:
            return float("nan")
        return statistics.quantiles(values, n=100)[98] if len(values) >= 2 else values[0]


def keep_asking(
    address: tuple[str, int],
    stop: threading.Event,
    tally: Tally,
    request: Callable[[int], bytes],
    *,
    expected: int,
    buffer: bytearray,
    pause: float,
) -> None:
    """Sends `request(n)` for the n-th time back to back on a kept-alive connection, reading every byte of each
    answer; an error counts as a failure and connects anew after `pause`, and so does an answer other than
    `expected` (the server closes after those)."""
    sock: socket.socket | None = None
    sent = 0
    while not stop.is_set():
        try:
            if sock is None:
                sock = connect(address, timeout=30)
                if sock is None:
                    raise ConnectionError("cannot connect")
            sock.sendall(request(sent))
            sent += 1
            status, size, _ = read_answer(sock, buffer)
        except OSError as error:
            with tally.lock:
                tally.failures.append(repr(error))
            if sock is not None:
                sock.close()
            sock = None
            stop.wait(pause)
            continue
        with tally.lock:
            tally.answers += 1
            tally.sizes.append(size)
            if status != expected:
                tally.failures.append(f"status {status}")
        if status != expected:
            sock.close()
            sock = None
    if sock is not None:
        sock.close()


def scraper(address: tuple[str, int], stop: threading.Event, tally: Tally) -> None:
    """Scrapes back to back on a kept-alive connection, reading every byte (uncompressed)."""
    keep_asking(address, stop, tally, lambda _: REQUEST, expected=200, buffer=bytearray(1 << 20), pause=0.1)


def slow_reader(address: tuple[str, int], stop: threading.Event, tally: Tally) -> None:
    """A scrape read 16 KiB at a time with a pause between: slow, but moving."""
    buffer = bytearray(16384)
    while not stop.is_set():
        sock = connect(address, receive_buffer=16384)
        if sock is None:
            stop.wait(0.1)
            continue
        try:
            sock.sendall(REQUEST.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"))
            while not stop.is_set() and sock.recv_into(buffer):
                stop.wait(0.05)
            with tally.lock:
                tally.answers += 1
        except OSError:
            pass
        finally:
            sock.close()


def never_reader(address: tuple[str, int], stop: threading.Event, tally: Tally) -> None:
    """Asks for the metrics and never reads a byte; asks again on a new connection when dropped."""
    while not stop.is_set():
        sock = connect(address, receive_buffer=4096)
        if sock is None:
            stop.wait(0.1)
            continue
        try:
            sock.sendall(REQUEST)
            with tally.lock:
                tally.answers += 1
            # Wait, reading nothing, until the server closes or drops this connection: poll() reports the
            # peer's FIN (POLLRDHUP) or reset (POLLHUP, POLLERR) whatever unread data waits in front of it.
            watch = select.poll()
            watch.register(sock, select.POLLRDHUP | select.POLLHUP | select.POLLERR)
            while not stop.is_set() and not watch.poll(500):
                pass
        except OSError:
            pass
        finally:
            sock.close()


def wrong_passwords(address: tuple[str, int], stop: threading.Event, tally: Tally) -> None:
    """Asks for the metrics with a wrong password, as a known and as an unknown user by turns, on a kept-alive
    connection, again as soon as it is refused."""
    requests = [
        f"GET /metrics HTTP/1.1\r\nHost: exporter\r\n{basic_authorization(user, secrets.token_hex(8))}\r\n".encode()
        for user in ("prometheus", "nobody")
    ]
    keep_asking(address, stop, tally, lambda n: requests[n % 2], expected=401, buffer=bytearray(4096), pause=0.05)


def prober(
    address: tuple[str, int], stop: Any, tally: Tally, every: float = 0.05, path: str = "/-/healthy", headers: str = ""
) -> None:
    """`path` (`/-/healthy`) on a fresh connection (as a kubelet probes) every `every` seconds, timed."""
    while not stop.is_set():
        started = time.monotonic()
        status, _ = get(address, path, timeout=5, headers=headers)
        with tally.lock:
            tally.latencies.append(time.monotonic() - started)
            tally.answers += 1
            if status != 200:
                tally.failures.append(f"status {status}")
        stop.wait(every)


def _probe_process(
    address: tuple[str, int], every: float, stop: Any, results: Connection, path: str, headers: str
) -> None:
    tally = Tally()
    prober(address, stop, tally, every, path, headers)
    results.send((tally.answers, tally.failures, tally.latencies))


@contextlib.contextmanager
def probing(
    address: tuple[str, int], every: float = 0.05, path: str = "/-/healthy", headers: str = ""
) -> Iterator[Tally]:
    """`prober` in a process of its own for the block: in the process that generates the load, its thread
    would wait for the interpreter behind the clients' threads and time that wait, not the exporter."""
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    receiving, sending = context.Pipe(duplex=False)
    args = (address, every, stop, sending, path, headers)
    process = context.Process(target=_probe_process, args=args, daemon=True)
    process.start()
    tally = Tally()
    try:
        yield tally
    finally:
        stop.set()
        if receiving.poll(30):
            tally.answers, tally.failures, tally.latencies = receiving.recv()
        process.join(10)


def run_clients(groups: list[tuple[Callable[..., None], int, Tally]], address: tuple[str, int], seconds: float) -> None:
    """Run `count` threads of each client function for `seconds`, then stop and join them."""
    stop = threading.Event()
    threads = [
        threading.Thread(target=client, args=(address, stop, tally), daemon=True)
        for client, count, tally in groups
        for _ in range(count)
    ]
    for thread in threads:
        thread.start()
    stop.wait(seconds)
    stop.set()
    for thread in threads:
        thread.join(timeout=15)
