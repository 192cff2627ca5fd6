"""nginx as the TLS-terminating, authenticating proxy in front of a local node (``--secure``).

Why a proxy: the OpenSearch security plugin is not published on Maven Central for the release
the embedded node runs (3.6.0), nor is any release line that has it also published with the
ml-commons, neural-search, k-NN and job-scheduler zips (README, "Secured node"). nginx from the
distribution's packages gives TLS, basic authentication and per-role method + path rules
(``cluster/roles.py``); the node itself stays on a private loopback port.

One nginx process tree per secured node, with its own config, pid, temp and log files in the
node folder: it never touches the system's nginx service or /etc/nginx.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import os
import secrets
import shutil
import signal
import subprocess
import time
from pathlib import Path

import requests

from opensearch_sparse import config
from opensearch_sparse.cluster.identity import ProcessIdentity
from opensearch_sparse.cluster.pki import Pki, write_private
from opensearch_sparse.cluster.process import pid_alive, recorded_pid, spawn_service
from opensearch_sparse.cluster.roles import nginx_access_map
from opensearch_sparse.errors import SparseError
from opensearch_sparse.progress import Status, quiet

logger = logging.getLogger(__name__)

#: Where Debian and Ubuntu put the binary (/usr/sbin is often not on a normal user's PATH).
NGINX_PATHS = (Path("/usr/sbin/nginx"), Path("/usr/local/sbin/nginx"))
#: The Debian package: just the server (the -light/-full variants only add modules).
NGINX_PACKAGE = "nginx"


def _exit_status(code: int) -> str:
    """Popen's return code in words: negative is the signal that ended the process."""
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"


class ProxyError(SparseError):
    """nginx is missing and cannot be installed, or the proxy failed to start."""


def find_nginx() -> Path | None:
    found = shutil.which("nginx")
    if found:
        return Path(found)
    return next((p for p in NGINX_PATHS if p.is_file() and os.access(p, os.X_OK)), None)


def ensure_nginx(progress: Status = quiet) -> Path:
    """The nginx binary, installed from the distribution's packages when missing and allowed
    (root on a Debian-like system); otherwise an error that says how to install it."""
    found = find_nginx()
    if found:
        return found
    apt = shutil.which("apt-get")
    if os.geteuid() != 0 or apt is None:
        raise ProxyError(
            "`--secure` runs nginx as the TLS proxy in front of the node, and nginx is not "
            "installed",
            f"install it (`sudo apt-get install {NGINX_PACKAGE}` on Debian/Ubuntu, your "
            "package manager elsewhere), or run this command once as root to let it install it",
        )
    progress(f"installing {NGINX_PACKAGE} from the distribution's packages (apt-get)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = [apt, "install", "-y", "-q", "--no-install-recommends", NGINX_PACKAGE]
    proc = subprocess.run(install, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:  # a fresh machine may have no package lists yet
        subprocess.run([apt, "update", "-q"], capture_output=True, env=env, check=False)
        proc = subprocess.run(install, capture_output=True, text=True, env=env, check=False)
    found = find_nginx()
    if proc.returncode != 0 or found is None:
        last = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ProxyError(
            f"installing {NGINX_PACKAGE} with apt-get failed: {last[0]}",
            f"install it by hand (`apt-get install {NGINX_PACKAGE}`) and run the command again",
        )
    return found


def htpasswd_line(user: str, password: str) -> str:
    """An nginx ``auth_basic_user_file`` line in the salted-SHA-1 scheme nginx reads natively.

    A fast hash is sound here because every password is a 192-bit random token made by
    ``cluster/secure.py``, never a human choice: there is nothing to guess, so key stretching
    would add start-up time and no security.
    """
    salt = secrets.token_bytes(16)
    digest = hashlib.sha1(password.encode() + salt).digest()
    return f"{user}:{{SSHA}}{base64.b64encode(digest + salt).decode()}"


def _json_error(status: int, kind: str, reason: str) -> str:
    """An error body shaped like OpenSearch's own, so clients read ``reason`` the same way;
    nginx fills in the ``$variables`` (all made JSON-safe by the maps in ``render_config``)."""
    error = {"root_cause": [{"type": kind, "reason": reason}], "type": kind, "reason": reason}
    return json.dumps({"error": error, "status": status}).replace("'", "\\'")


def render_config(folder: Path, logs: Path, bind: str, port: int, backend_port: int) -> str:
    """The complete nginx.conf for one secured node (``folder`` is its ``secure/`` folder)."""
    pki = Pki(folder)
    tmp = folder / "tmp"
    denied = _json_error(
        403,
        "security_exception",
        "no permissions for [$request_method $os_safe_path] and User [name=$remote_user] "
        "(opensearch-sparse proxy roles: see README, Users and roles)",
    )
    unauthenticated = _json_error(401, "security_exception", "$os_auth_problem")
    plain = _json_error(
        400, "illegal_argument_exception", "this port speaks HTTPS only: use https://"
    )
    access_map = "\n".join(f"        {line}" for line in nginx_access_map().splitlines())
    return f"""# written by opensearch-sparse on each start; edits are replaced
daemon off;
worker_processes auto;
pid {folder}/nginx.pid;
error_log {logs}/proxy-error.log warn;
events {{ worker_connections 1024; }}

http {{
    # The user name and request line only: passwords never reach any log.
    access_log {logs}/proxy-access.log combined;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    server_tokens off;
    client_max_body_size {config.PROXY_MAX_BODY};

    # The path exactly as OpenSearch routes it (raw, no query string): roles match on it.
    map $request_uri $os_path {{
        "~^(?<path>[^?]*)" $path;
    }}
    map "$remote_user $request_method $os_path" $os_allowed {{
{access_map}
    }}
    map $os_path $os_safe_path {{
        "~^[A-Za-z0-9/_.,*:+-]*$" $os_path;
        default "(a path with other characters)";
    }}
    map $http_authorization $os_auth_problem {{
        "" "no credentials were sent (this node needs a user name and password)";
        default "the user name or password is wrong";
    }}

    upstream opensearch {{
        server 127.0.0.1:{backend_port};
        keepalive 16;
    }}

    server {{
        listen {bind}:{port} ssl;
        ssl_certificate {pki.cert};
        ssl_certificate_key {pki.key};
        ssl_protocols TLSv1.2 TLSv1.3;
        default_type application/json;

        auth_basic "opensearch-sparse";
        auth_basic_user_file {folder}/htpasswd;

        error_page 401 @unauthenticated;
        error_page 403 @denied;
        error_page 497 @plain_http;

        location @unauthenticated {{
            auth_basic off;
            add_header WWW-Authenticate 'Basic realm="opensearch-sparse"' always;
            return 401 '{unauthenticated}';
        }}
        location @denied {{
            auth_basic off;
            return 403 '{denied}';
        }}
        location @plain_http {{
            auth_basic off;
            return 400 '{plain}';
        }}
        # Authorization runs after authentication (auth_basic, then auth_request), so a wrong
        # password is always a 401 and only a known user can learn what it may not do.
        location = /_opensearch_sparse_authz {{
            internal;
            auth_basic off;
            if ($os_allowed = 0) {{
                return 403;
            }}
            return 204;
        }}
        location / {{
            auth_request /_opensearch_sparse_authz;
            proxy_pass http://opensearch;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            # The node never sees credentials, so its logs cannot leak them.
            proxy_set_header Authorization "";
            proxy_request_buffering off;
            proxy_read_timeout {config.PROXY_TIMEOUT_S}s;
            proxy_send_timeout {config.PROXY_TIMEOUT_S}s;
        }}
    }}
}}
"""


class NginxProxy:
    """The nginx process of one secured node: write its files, start, wait, stop."""

    def __init__(self, folder: Path, logs: Path) -> None:
        self.folder = folder
        self.logs = logs
        #: Log sizes when nginx was last started here: ``new_output`` reads from there.
        self._log_marks: dict[Path, int] = {}

    @property
    def conf_path(self) -> Path:
        return self.folder / "nginx.conf"

    @property
    def state_path(self) -> Path:
        return self.folder / "proxy.json"

    @property
    def error_log(self) -> Path:
        return self.logs / "proxy-error.log"

    @property
    def console_log(self) -> Path:
        return self.logs / "proxy-console.log"

    def running_pid(self) -> int | None:
        """The nginx master's pid, when the process recorded at start is still alive (checked
        like the node's: start time, boot id, owner; a pid the OS reused for another program
        after a crash must never be signalled)."""
        return recorded_pid(self.state_path, self.folder, "this node's nginx")

    def write_files(
        self, bind: str, port: int, backend_port: int, passwords: dict[str, str]
    ) -> None:
        """nginx.conf and the password hashes (owner-only: nginx runs as the same user)."""
        # Request and response bodies nginx buffers are documents: owner-only too.
        for sub in ("", "body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.folder / "tmp" / sub).mkdir(mode=0o700, parents=True, exist_ok=True)
            (self.folder / "tmp" / sub).chmod(0o700)
        self.logs.mkdir(parents=True, exist_ok=True)
        lines = [htpasswd_line(user, pw) for user, pw in sorted(passwords.items())]
        write_private(self.folder / "htpasswd", ("\n".join(lines) + "\n").encode())
        conf = render_config(self.folder, self.logs, bind, port, backend_port)
        write_private(self.conf_path, conf.encode())

    def start(self, nginx: Path, owner: tuple[int, int] | None) -> subprocess.Popen[bytes]:
        """Start nginx in the foreground of its own session (so stop() can end the whole
        process group); as ``owner`` when the CLI runs as root. The handle is what
        ``wait_ready`` watches: the parent's own view of its child needs no guessing."""
        self._log_marks = self._log_sizes()
        argv = [
            str(nginx),
            "-p",
            str(self.folder),
            "-c",
            str(self.conf_path),
            "-e",
            str(self.error_log),
        ]
        proc = spawn_service(argv, self.folder, self.console_log, owner)
        self.state_path.write_text(json.dumps(ProcessIdentity.of(proc.pid).to_state()))
        return proc

    def wait_ready(
        self,
        proc: subprocess.Popen[bytes],
        url: str,
        auth: tuple[str, str],
        ca: Path,
        timeout_s: float,
        progress: Status,
    ) -> None:
        """Poll through the proxy, as the admin and verifying the certificate, until the node
        answers; fail fast with nginx's exit status and what it wrote when it exits."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            code = proc.poll()
            if code is not None:
                self.state_path.unlink(missing_ok=True)
                raise ProxyError(
                    f"the TLS proxy (nginx) {_exit_status(code)} during start-up: "
                    + self.new_output(),
                    f"read {self.error_log}; a taken port or an unreadable file is the usual cause",
                )
            try:
                if requests.get(url, auth=auth, verify=str(ca), timeout=5).status_code == 200:
                    return
            except requests.RequestException:
                pass
            progress("waiting for the TLS proxy")
            time.sleep(0.3)
        self.stop(started=proc)
        raise ProxyError(
            f"the TLS proxy did not answer at {url} within {timeout_s:.0f}s: {self.new_output()}",
            f"read {self.error_log}",
        )

    def _log_sizes(self) -> dict[Path, int]:
        return {
            path: path.stat().st_size if path.is_file() else 0
            for path in (self.error_log, self.console_log)
        }

    def new_output(self, lines: int = 3) -> str:
        """The last lines nginx wrote to its error log and console since ``start`` (older
        lines are earlier runs', and would send the reader after the wrong cause)."""
        found: list[str] = []
        for path in (self.error_log, self.console_log):
            if not path.is_file():
                continue
            with path.open("rb") as log:
                log.seek(self._log_marks.get(path, 0))
                found += log.read().decode(errors="replace").strip().splitlines()
        return " | ".join(found[-lines:]) or "(nginx wrote nothing)"

    def stop(self, timeout_s: float = 10.0, started: subprocess.Popen[bytes] | None = None) -> bool:
        """Graceful shutdown (SIGQUIT lets requests in flight finish), then the process group
        is killed if it lingers. False when it was not running. ``started``: the handle from
        ``start``, so a start that fails never leaves an nginx behind holding the port."""
        pid = self.running_pid()
        if pid is None and started is not None and started.poll() is None:
            pid = started.pid
        if pid is None:
            self.state_path.unlink(missing_ok=True)
            return False
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGQUIT)
        deadline = time.monotonic() + timeout_s
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if pid_alive(pid):
            logger.warning("nginx %d ignored SIGQUIT for %.0fs; killing it", pid, timeout_s)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)  # its workers share the session's group
            while pid_alive(pid):
                time.sleep(0.05)
        self.state_path.unlink(missing_ok=True)
        return True
