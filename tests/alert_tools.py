"""Real alerting tools for the tests: a TLS endpoint on loopback in front of the local stack
(the official ``pagerduty`` client refuses plain http), and Prometheus Alertmanager (Debian's
``prometheus-alertmanager``, installed when missing and the platform allows)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import ssl
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests
import trustme

from tests.harness import poll
from tocsin_local.local_cloud import free_port

ALERTMANAGER = "prometheus-alertmanager"
FORWARDED_HEADERS = ("content-type", "retry-after")


@contextlib.contextmanager
def tls_proxy(target: str, tmp: Path) -> Iterator[tuple[str, str]]:
    """An https endpoint on 127.0.0.1 that forwards each request to ``target`` and its answer
    back. Yields (its base URL, the CA certificate file that trusts it)."""
    authority = trustme.CA()
    certificate = authority.issue_cert("127.0.0.1", "localhost")
    ca_file = tmp / "tls-proxy-ca.pem"
    authority.cert_pem.write_to_path(str(ca_file))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    certificate.configure_cert(context)

    class Forward(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {
                key: value
                for key, value in self.headers.items()
                if key.lower() in ("content-type", "user-agent", "accept")
            }
            answer = requests.request(
                self.command, target + self.path, data=body, headers=headers, timeout=30
            )
            self.send_response(answer.status_code)
            for name in FORWARDED_HEADERS:
                if name in answer.headers:
                    self.send_header(name, answer.headers[name])
            self.send_header("Content-Length", str(len(answer.content)))
            self.end_headers()
            self.wfile.write(answer.content)

        do_GET = do_POST = _forward

    server = ThreadingHTTPServer(("127.0.0.1", 0), Forward)
    server.daemon_threads = True
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", str(ca_file)
    finally:
        server.shutdown()
        server.server_close()


def alertmanager_binary() -> str | None:
    """Debian's Alertmanager, installed with apt-get when missing (CI runs as root); None where
    this platform cannot have it."""
    found = shutil.which(ALERTMANAGER)
    if found or os.geteuid() != 0 or shutil.which("apt-get") is None:
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", ALERTMANAGER]
    if subprocess.run(install, env=env, capture_output=True, check=False).returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, capture_output=True, check=False)
        subprocess.run(install, env=env, capture_output=True, check=False)
    return shutil.which(ALERTMANAGER)


class Alertmanager:
    """One Alertmanager in the foreground on loopback, its webhook pointed at Tocsin."""

    def __init__(self, binary: str, workdir: Path, *, webhook_url: str, api_key: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        workdir.mkdir(parents=True, exist_ok=True)
        config = workdir / "alertmanager.yml"
        # Alertmanager reads YAML; JSON is YAML.
        config.write_text(
            json.dumps(
                {
                    "route": {
                        "receiver": "tocsin",
                        "group_by": ["alertname"],
                        "group_wait": "1s",
                        "group_interval": "1s",
                        "repeat_interval": "1h",
                    },
                    "receivers": [
                        {
                            "name": "tocsin",
                            "webhook_configs": [
                                {
                                    "url": webhook_url,
                                    "send_resolved": True,
                                    "http_config": {"authorization": {"credentials": api_key}},
                                }
                            ],
                        }
                    ],
                }
            )
        )
        self.log = workdir / "alertmanager.log"
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                [
                    binary,
                    f"--config.file={config}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--cluster.listen-address=",
                    f"--storage.path={workdir / 'data'}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        poll(self._ready, timeout=30, interval=0.1, what="Alertmanager ready")

    def _ready(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"Alertmanager exited:\n{self.log.read_text()}")
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def post_alerts(self, alerts: list[dict[str, Any]]) -> None:
        response = requests.post(f"{self.url}/api/v2/alerts", json=alerts, timeout=10)
        assert response.status_code == 200, response.text

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
