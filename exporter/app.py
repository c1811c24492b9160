"""The commands: the wiring (`exporter/wiring.py`: clients and sources), the poller and the web server.

Every command starts here: `run` serves until a stop signal, `once` polls every region once and prints
the exposition (`check`, one cheap call of every source per region, is in `exporter/check.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import resource
import signal
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from exporter import __version__
from exporter.config import Settings
from exporter.console import EXIT_CONFIG, EXIT_FAILED, EXIT_OK, ConfigError, print_problems
from exporter.durations import format_duration
from exporter.metrics.exposition import Format, answer
from exporter.poller import Poller
from exporter.tencentcloud.credentials import CredentialProvider
from exporter.web.connections import Limits
from exporter.web.page import PageContext
from exporter.web.server import ExporterApp, ListenError, WebServer, bind
from exporter.web.webconfig import CHECK_THREADS, BasicAuth, WebConfig, load_web_config
from exporter.wiring import (
    AccountHooks,
    RedactingProvider,
    RetryProgress,
    Unit,
    Wiring,
    make_client,
    make_sources,
    poll_plan,
)

log = logging.getLogger("exporter")

__all__ = [
    "AccountHooks",
    "Exporter",
    "RedactingProvider",
    "RetryProgress",
    "Unit",
    "Wiring",
    "make_client",
    "make_sources",
    "once_command",
    "poll_plan",
    "run_command",
]

STOP_SECONDS = 5.0
"""A stop signal ends the process within this many seconds (the interface's promise)."""
HARD_STOP_SECONDS = STOP_SECONDS - 0.5
"""Seconds after the first stop signal at which the process exits whatever is still running: the graceful
stop gives up waiting before that, and this is the backstop for whatever it cannot see (a task that does
not end when cancelled, a worker thread the interpreter would wait for on its way out)."""
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
"""SIGHUP stops the exporter like SIGTERM: there is nothing to reload, credential files are re-read when
they change and the web config is read at start."""


SWITCH_INTERVAL = 0.001
"""Seconds a thread that computes may keep the interpreter while another waits for it (Python's default is
5 ms), set when polling starts on its own thread. The serving loop gives the interpreter up at each write
to a socket and then waits for the poll thread's turn to end to get it back: with 5 ms turns, a loop turn
writing to 16 scrapers, and a health probe behind it, took tens of milliseconds more for every write while
a poll ran (docs/performance.md, "Probes under load")."""
DESCRIPTOR_RESERVE = 128
"""Descriptors kept free of web connections: the API client's sockets, log files, the event loops, worker
threads. Without them a flood of connections leaves every poll failing with a network error."""
MIN_CONNECTIONS = 16


def web_limits(settings: Settings, descriptors: int | None = None) -> Limits:
    """The web server's bounds: `--web.max-connections` lowered, if need be, to the process's descriptor
    limit (`ulimit -n`, RLIMIT_NOFILE) less `DESCRIPTOR_RESERVE`."""
    if descriptors is None:
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        descriptors = soft if soft != resource.RLIM_INFINITY else 1 << 20
    room = max(MIN_CONNECTIONS, descriptors - DESCRIPTOR_RESERVE)
    return Limits(
        max_connections=min(settings.web.max_connections, room),
        header_timeout=settings.web.header_timeout,
        write_timeout=settings.web.write_timeout,
    )


def web_config(settings: Settings) -> WebConfig:
    """The TLS and basic auth settings of `--web.config.file` (none: plain HTTP, no auth); raises ConfigError."""
    if settings.web.config_file is None:
        return WebConfig()
    return load_web_config(settings.web.config_file)


WORKER_THREADS = 4
"""Worker threads of each event loop: formatting and rendering on the poll loop, deflating answers on the
serving loop (passwords are checked on a thread of their own). asyncio's default pool grows on demand up
to the CPU count plus four per loop; a fixed pool of each gives the process a thread ceiling a soak can hold it to."""
THREAD_CEILING = 2 + 2 * WORKER_THREADS + CHECK_THREADS
"""The threads of a running exporter at most: the main (serving) thread, the poll thread, both pools and the
password checker's (the hard-stop timer joins them only once a stop has begun)."""


def use_worker_pool(name: str) -> None:
    """Give the running loop a fixed pool of `WORKER_THREADS` for `asyncio.to_thread` and name its threads."""
    pool = ThreadPoolExecutor(max_workers=WORKER_THREADS, thread_name_prefix=name)
    asyncio.get_running_loop().set_default_executor(pool)


class Closable(Protocol):
    """What the poll thread closes as polling ends: the wiring's clients (or one client)."""

    async def aclose(self) -> None: ...


class PollThread:
    """The poller and its API client on an event loop of their own, in a thread of their own.

    Scrapes and polls once shared one event loop: fifty concurrent scrapers of a large fleet held it
    long enough for every poll to time out, and a healthy API looked down. Here nothing the web server
    does can delay a poll's callbacks; the two threads share only the interpreter (the poller renders
    in worker threads as before) and hand over immutable objects (`Poller.published`, the self-metrics'
    thread-safe registry). The client, its connections and the credential provider's locks are used and
    closed only on this loop. A thread rather than a process: a process would copy each snapshot (tens
    of megabytes for thousands of services) across to the server, and hold it twice (docs/performance.md).
    """

    def __init__(self, poller: Poller, client: Closable) -> None:
        self.poller = poller
        self.client = client
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._caller: asyncio.AbstractEventLoop | None = None
        self._done: asyncio.Future[None] | None = None
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._main, name="poller", daemon=True)

    def start(self) -> asyncio.Future[None]:
        """Start polling; the future (of the calling loop) ends when polling does, with its error if any."""
        self._caller = asyncio.get_running_loop()
        self._done = self._caller.create_future()
        sys.setswitchinterval(SWITCH_INTERVAL)
        self._thread.start()
        self._started.wait()
        return self._done

    def _main(self) -> None:
        error: BaseException | None = None
        try:
            asyncio.run(self._run())
        except BaseException as exc:  # reported to the serving loop, which logs it and stops; nothing is hidden
            error = exc
        finally:
            self._started.set()  # also when the loop could not even start
            self._report(error)

    async def _run(self) -> None:
        self._loop = asyncio.get_running_loop()
        use_worker_pool("poll-worker")
        self._task = asyncio.current_task()
        self._started.set()
        error: BaseException | None = None
        try:
            await self.poller.run()
        except BaseException as exc:
            error = exc
            raise
        finally:
            await self.client.aclose()
            # Said now, not after `asyncio.run` has waited for worker threads: a render still running in one
            # must not hold up the stop (the interpreter's exit, bounded by the hard stop, waits for it).
            self._report(error)

    def _report(self, error: BaseException | None) -> None:
        caller, done = self._caller, self._done
        if caller is None or done is None:
            return

        def finish() -> None:
            if done.done():
                return
            if error is None or isinstance(error, asyncio.CancelledError):
                done.set_result(None)
            else:
                done.set_exception(error)

        with contextlib.suppress(RuntimeError):  # the serving loop has already ended: nobody is waiting
            caller.call_soon_threadsafe(finish)

    def stop(self) -> None:
        """Cancel polling (from any thread); the client is closed on the poll loop as polling ends."""
        loop, task = self._loop, self._task
        if loop is not None and task is not None:
            with contextlib.suppress(RuntimeError):  # the loop has already ended
                loop.call_soon_threadsafe(task.cancel)


class Exporter:
    """The running exporter: one client and one poller on the poll thread's loop, one web server on this one."""

    def __init__(self, settings: Settings, credentials: CredentialProvider, web: WebConfig | None = None) -> None:
        self.settings = settings
        self.web = web if web is not None else WebConfig()
        wiring = Wiring(settings, credentials)
        self.metrics = wiring.metrics
        self.wiring = wiring
        self.client = wiring.client
        """The one API client without accounts (the first account's with them); `wiring` closes them all."""
        self.poller = wiring.make_poller()
        self.polling = PollThread(self.poller, wiring)
        context = PageContext(
            version=__version__,
            started=time.time(),
            telemetry_path=settings.web.telemetry_path,
            interval=settings.poll.interval,
            max_staleness=settings.poll.max_staleness,
            events=settings.events.max_services > 0,
        )
        self.app = ExporterApp(
            self.poller,
            self.metrics,
            context,
            BasicAuth(self.web.users),
            max_concurrent_scrapes=settings.web.max_concurrent_scrapes,
        )
        self.server: WebServer | None = None

    async def serve(self, stop: asyncio.Event, on_listening: Callable[[str], None] | None = None) -> int:
        """Poll and serve until `stop` is set; 0 then, 1 if the server could not listen or run.

        `on_listening` hears the base URL (`http://127.0.0.1:10120`) once the socket listens.
        """
        use_worker_pool("web-worker")
        host, port = self.settings.web.host_port
        try:
            sock = bind(host, port)
        except ListenError as error:  # one plain line, like a configuration problem: nothing has started
            print_problems([f"--web.listen-address: {error}"])
            await self.wiring.aclose()
            return EXIT_FAILED
        limits = web_limits(self.settings)
        self.server = WebServer(self.app, sock, self.web.tls, limits)
        log.info(
            "serving",
            extra={
                "address": self.server.address,
                "scheme": self.web.scheme,
                "basic_auth": bool(self.web.users),
                "telemetry_path": self.settings.web.telemetry_path,
                "regions": ",".join(self.settings.tione.regions),
                "interval": format_duration(self.settings.poll.interval),
                "max_connections": limits.max_connections,
            },
        )
        if on_listening is not None:
            on_listening(f"{self.web.scheme}://{self.server.address}")
        server_task = asyncio.create_task(self.server.serve(), name="http server")
        poll_task = self.polling.start()
        stop_task = asyncio.create_task(stop.wait(), name="stop")
        waited: set[asyncio.Future[Any]] = {server_task, poll_task, stop_task}
        done, _ = await asyncio.wait(waited, return_when=asyncio.FIRST_COMPLETED)
        code = EXIT_OK
        if stop_task not in done:
            failed = server_task if server_task in done else poll_task
            reason = None if failed.cancelled() else failed.exception()
            name = "http server" if failed is server_task else "poller"
            log.error("stopped unexpectedly", extra={"task": name, "error": repr(reason)})
            code = EXIT_FAILED
        await self._shutdown(server_task, poll_task, stop_task)
        return code

    async def _shutdown(
        self, server_task: asyncio.Future[None], poll_task: asyncio.Future[None], stop_task: asyncio.Future[Any]
    ) -> None:
        log.info("stopping")
        assert self.server is not None
        self.server.stop()
        self.polling.stop()  # the poll thread closes the client as its loop ends
        stop_task.cancel()
        # `asyncio.wait`, not `wait_for`: a task that does not end when cancelled is reported, not waited for
        # (the hard stop of `run_command` ends the process anyway).
        names: dict[asyncio.Future[Any], str] = {server_task: "http server", poll_task: "poller", stop_task: "stop"}
        done, pending = await asyncio.wait(names, timeout=STOP_SECONDS - 1.5)
        for task in done:  # retrieved, so that no "exception was never retrieved" follows the stop
            if not task.cancelled():
                task.exception()
        if pending:
            log.warning("tasks still running at stop", extra={"tasks": ",".join(sorted(names[t] for t in pending))})


# --- commands --------------------------------------------------------------------------------------------


async def run_command(
    settings: Settings, credentials: CredentialProvider, on_listening: Callable[[str], None] | None = None
) -> int:
    """Serve until SIGTERM, SIGINT or SIGHUP; the process ends within `STOP_SECONDS` of the first signal.

    `on_listening` hears the base URL (`http://127.0.0.1:10120`) once the socket listens.
    """
    try:
        web = web_config(settings)
    except ConfigError as error:
        print_problems(error.problems)
        return EXIT_CONFIG
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal(sig: signal.Signals) -> None:
        if not stop.is_set():
            log.info("stop requested", extra={"signal": sig.name})
            arm_hard_stop(HARD_STOP_SECONDS)
        stop.set()

    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        return await Exporter(settings, credentials, web).serve(stop, on_listening)
    finally:
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)
            if stop.is_set():  # a second signal while the process winds down changes nothing
                signal.signal(sig, signal.SIG_IGN)


def arm_hard_stop(seconds: float, code: int = EXIT_OK) -> threading.Timer:
    """Exit the process with `code` in `seconds`, whatever is still running then; logged.

    A daemon thread, not a task: it fires also when the event loop is stuck, and it is never disarmed,
    so it bounds the interpreter's exit too (which waits for worker threads). For a process about to end
    only: it takes the whole process down.
    """

    def hard_stop() -> None:
        log.error("stop did not finish in time, exiting anyway", extra={"after": format_duration(seconds)})
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):  # a closed or broken stream must not keep the process alive
                stream.flush()
        os._exit(code)

    timer = threading.Timer(seconds, hard_stop)
    timer.daemon = True
    timer.name = "hard stop"
    timer.start()
    return timer


async def once_command(settings: Settings, credentials: CredentialProvider, output: Format) -> int:
    """One poll of every region, every source run whatever its interval (a first poll runs them all)."""
    wiring = Wiring(settings, credentials, progress=True)
    try:
        poller = wiring.make_poller()
        statuses = await poller.poll_all()
    finally:
        await wiring.aclose()
    for chunk in answer(poller.exposition, wiring.metrics, output).chunks:
        sys.stdout.buffer.write(chunk)
    sys.stdout.flush()
    return EXIT_OK if all(status.outcome == "success" for status in statuses) else EXIT_FAILED
