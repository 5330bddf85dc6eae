"""Several ``quizsvc serve`` instances behind Debian's nginx, as two containers would be.

Each instance is its own process group (a gunicorn master and its workers) on its own port;
nginx runs as a child process (``daemon off``) from a configuration generated into a temp
folder, balancing to the instances with ``least_conn`` and passing a request that could not
reach one instance (refused connection, reset before a reply) to the next. Used by
``bench/capacity.py --instances 2`` and ``tests/test_scale_out_proxy.py``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

NGINX = os.environ.get("QUIZSVC_NGINX", "/usr/sbin/nginx")
READY_TIMEOUT = 180.0
SERVE = (sys.executable, "-m", "quizsvc", "serve")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def nginx_available() -> bool:
    return Path(NGINX).is_file() or shutil.which(NGINX) is not None


def nginx_config(upstream_ports: Sequence[int], port: int, folder: Path) -> str:
    """An nginx configuration a non-root user can run in the foreground from ``folder``."""
    servers = "\n".join(
        f"        server 127.0.0.1:{upstream} max_fails=1 fail_timeout=10s;"
        for upstream in upstream_ports
    )
    temp = {name: folder / name for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
    return f"""daemon off;
worker_processes 1;
pid {folder / "nginx.pid"};
error_log {folder / "error.log"} warn;
events {{
    worker_connections 8192;
}}
http {{
    access_log off;
    client_body_temp_path {temp["body"]};
    proxy_temp_path {temp["proxy"]};
    fastcgi_temp_path {temp["fastcgi"]};
    uwsgi_temp_path {temp["uwsgi"]};
    scgi_temp_path {temp["scgi"]};
    upstream quizsvc {{
        least_conn;
{servers}
        keepalive 64;
    }}
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        client_max_body_size 1m;
        location / {{
            proxy_pass http://quizsvc;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            # A request an instance never answered goes to the other one; nginx never
            # repeats a POST that reached an instance (non_idempotent is not set).
            proxy_next_upstream error timeout http_502 http_503;
            proxy_connect_timeout 2s;
            proxy_read_timeout 120s;
        }}
    }}
}}
"""


@dataclass
class Instance:
    """One ``quizsvc serve`` process group."""

    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL the master and every worker at once, as a crashed container."""
        if self.running:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if not self.running:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()

    def tail(self, characters: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-characters:] if self.log.exists() else ""


def start_instance(env: Mapping[str, str], workers: int, folder: Path) -> Instance:
    port = free_port()
    log = folder / f"quizsvc-{port}.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [*SERVE, "--port", str(port), "--workers", str(workers)],
            env=dict(env),
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Instance(port, process, log)


def wait_ready(url: str, processes: Sequence[subprocess.Popen[bytes]], timeout: float) -> float:
    """Seconds until ``url``/v1/ready answers 200; raises if a process exits first."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        for process in processes:
            if process.poll() is not None:
                raise RuntimeError(f"a server process exited with {process.returncode}")
        try:
            if requests.get(f"{url}/v1/ready", timeout=2).status_code == 200:
                return time.perf_counter() - started
        except requests.RequestException:
            pass  # not listening yet
        time.sleep(0.05)
    raise RuntimeError(f"{url} was not ready after {timeout:.0f} s")


@dataclass
class Cluster:
    """What the load goes to: ``url`` is nginx's, or the only instance's without a proxy."""

    url: str
    instances: list[Instance]
    proxy: subprocess.Popen[bytes] | None
    folder: Path

    def server_pids(self) -> list[int]:
        return [instance.process.pid for instance in self.instances if instance.running]


@contextmanager
def run_nginx(
    upstream_ports: Sequence[int], folder: Path
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = folder / "nginx.conf"
    config.write_text(nginx_config(upstream_ports, port, folder), encoding="utf-8")
    with (folder / "nginx.out").open("wb") as output:
        proxy = subprocess.Popen(
            [NGINX, "-p", str(folder), "-c", str(config), "-e", str(folder / "error.log")],
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 15
        while True:
            if proxy.poll() is not None:
                log = (folder / "error.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"nginx exited with {proxy.returncode}: {log}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("nginx did not listen within 15 s") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}", proxy
    finally:
        if proxy.poll() is None:
            proxy.send_signal(signal.SIGQUIT)  # graceful shutdown
            try:
                proxy.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proxy.kill()
                proxy.wait()


@contextmanager
def cluster(
    env: Mapping[str, str], instances: int, workers: int, folder: Path, proxy: bool | None = None
) -> Iterator[Cluster]:
    """``instances`` servers sharing ``env`` (database, Redis), behind nginx when there are
    several (or ``proxy`` is true); everything is stopped afterwards."""
    use_proxy = instances > 1 if proxy is None else proxy
    with ExitStack() as stack:
        started: list[Instance] = []

        def stop_all() -> None:
            for instance in started:
                instance.stop()

        stack.callback(stop_all)
        for _ in range(instances):
            started.append(start_instance(env, workers, folder))
        try:
            for instance in started:
                wait_ready(instance.url, [instance.process], READY_TIMEOUT)
        except RuntimeError:
            for instance in started:
                print(f"server {instance.port} output (tail):\n{instance.tail()}", file=sys.stderr)
            raise
        if not use_proxy:
            yield Cluster(started[0].url, started, None, folder)
            return
        url, nginx = stack.enter_context(
            run_nginx([instance.port for instance in started], folder / "nginx")
        )
        yield Cluster(url, started, nginx, folder)
