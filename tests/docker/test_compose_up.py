"""`docker compose up` for real: the image builds, the node starts, the demo service deploys
the model, indexes the corpus through the pipeline and exits 0, and the host searches the node
on 127.0.0.1:9200 (sparse and BM25). Everything is torn down with its volumes.

No registry is needed: the base image is built from Debian packages by
scripts/docker-base-image.sh (reused when it exists) unless OPENSEARCH_SPARSE_BASE_IMAGE names
another. CA certificates the host trusts locally (/usr/local/share/ca-certificates) go to the
build as EXTRA_CA_CERTS, for a TLS-intercepting proxy between the build and the registries.
Wall times (build, up, up to the demo's exit) are printed: pytest -s shows them.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import jsonschema
import pytest
import requests
import yaml

from opensearch_sparse import config
from opensearch_sparse.cluster.layout import ClusterLayout
from opensearch_sparse.cluster.process import port_free

REPO = Path(__file__).resolve().parents[2]
BASE_IMAGE = "opensearch-sparse-base:trixie"
URL = f"http://127.0.0.1:{config.DEFAULT_PORT}"
INDEX = "demo-sparse"
BUILD_TIMEOUT_S = 1800
UP_TIMEOUT_S = 1200

pytestmark = pytest.mark.docker


def compose_command() -> list[str]:
    """Compose v1 (Debian's docker-compose) or v2 (the docker plugin): the files are the
    Compose Specification, read the same by both."""
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return ["docker", "compose"]


def _run(
    args: list[str], timeout: float, cwd: Path = REPO, **kw: object
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # type: ignore[call-overload]
        args, capture_output=True, text=True, timeout=timeout, check=False, cwd=cwd, **kw
    )


def _require_docker() -> None:
    """Docker must be there: a missing daemon fails the run (scripts/test.sh sets it up)."""
    if not shutil.which("docker"):
        pytest.fail(
            "docker is not installed; fix: run `bash scripts/test.sh` as root (it installs "
            "docker.io, docker-compose and mmdebstrap) or install them yourself"
        )
    info = _run(["docker", "info"], 60)
    if info.returncode != 0:
        pytest.fail(
            f"the Docker daemon is not reachable ({info.stderr.strip()[-200:]}); fix: "
            "start dockerd (scripts/test.sh does, as root) or join the docker group"
        )


def _extra_ca() -> str:
    if os.environ.get("OPENSEARCH_SPARSE_EXTRA_CA_CERTS"):
        return os.environ["OPENSEARCH_SPARSE_EXTRA_CA_CERTS"]
    local = sorted(Path("/usr/local/share/ca-certificates").glob("**/*.crt"))
    # As `"$(cat FILES)"` passes them (the README's way): the build cache sees the same value.
    return "".join(p.read_text() for p in local).rstrip("\n")


@pytest.fixture(scope="module")
def compose_env() -> dict[str, str]:
    _require_docker()
    env = dict(os.environ, OPENSEARCH_SPARSE_EXTRA_CA_CERTS=_extra_ca())
    if not os.environ.get("OPENSEARCH_SPARSE_BASE_IMAGE"):
        began = time.monotonic()
        base = _run(["bash", "scripts/docker-base-image.sh", BASE_IMAGE], BUILD_TIMEOUT_S)
        assert base.returncode == 0, base.stdout + base.stderr
        print(f"\nbase image: {base.stdout.strip()} ({time.monotonic() - began:.0f}s)")
        env["OPENSEARCH_SPARSE_BASE_IMAGE"] = BASE_IMAGE
    return env


class Compose:
    """One compose file under its own project name, always taken down with its volumes."""

    def __init__(self, file: str, env: dict[str, str]) -> None:
        self.file = file
        self.env = env
        self.project = f"ossparse-test-{Path(file).stem.replace('.', '-')}"

    def __call__(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        cmd = [*compose_command(), "-p", self.project, "-f", self.file, *args]
        return _run(cmd, timeout, env=self.env)

    def logs(self, service: str | None = None, lines: int = 40) -> str:
        proc = self("logs", "--no-color", "--tail", str(lines), *([service] if service else []))
        return proc.stdout

    def wait_exit(self, service: str, timeout: float) -> int:
        container = self("ps", "-q", service).stdout.strip()
        assert container, f"no {service} container:\n{self.logs()}"
        proc = _run(["docker", "wait", container], timeout)
        assert proc.returncode == 0, proc.stderr
        return int(proc.stdout.strip())


Up = Callable[[str], tuple[Compose, dict[str, float]]]


@pytest.fixture
def up(compose_env: dict[str, str]) -> Iterator[Up]:
    started: list[Compose] = []

    def start(file: str) -> tuple[Compose, dict[str, float]]:
        if not port_free(config.DEFAULT_PORT):
            pytest.fail(
                f"port {config.DEFAULT_PORT} on 127.0.0.1 is taken; fix: stop what "
                "listens there (the compose files publish the node on it)"
            )
        compose = Compose(file, compose_env)
        timings: dict[str, float] = {}
        began = time.monotonic()
        build = compose("build", timeout=BUILD_TIMEOUT_S)
        assert build.returncode == 0, (build.stdout + build.stderr)[-4000:]
        timings["build_s"] = time.monotonic() - began
        started.append(compose)
        began = time.monotonic()
        # Detached `up` returns once the nodes are healthy and the demo has started.
        proc = compose("up", "-d", timeout=UP_TIMEOUT_S)
        assert proc.returncode == 0, proc.stderr[-3000:] + compose.logs()
        timings["up_s"] = time.monotonic() - began
        code = compose.wait_exit("demo", UP_TIMEOUT_S)
        timings["up_to_demo_exit_s"] = time.monotonic() - began
        assert code == 0, f"the demo exited {code}:\n{compose.logs('demo', 80)}"
        print(f"\n{file}: " + ", ".join(f"{k} {v:.0f}" for k, v in timings.items()))
        return compose, timings

    yield start
    for compose in started:
        down = compose("down", "-v", "--remove-orphans", timeout=600)
        assert down.returncode == 0, down.stderr


def _cli(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(config.ENV_PREFIX)}
    return _run([sys.executable, "-m", "opensearch_sparse", *args], 300, cwd=cwd, env=env)


def _search(mode: str, query: str) -> dict:
    proc = _cli("search", INDEX, query, "--mode", mode, "-k", "5", "--json", "--url", URL)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _check_search_from_host(replicas: int) -> None:
    count = requests.get(f"{URL}/{INDEX}/_count", timeout=30).json()["count"]
    assert count > 1000  # the standard library's docstrings, every one of them
    settings = requests.get(f"{URL}/{INDEX}/_settings", timeout=30).json()
    assert settings[INDEX]["settings"]["index"]["number_of_replicas"] == str(replicas)
    sparse = _search("sparse", "compress data with gzip")
    assert sparse["hits"] and any("gzip" in h["doc_id"] for h in sparse["hits"]), sparse
    bm25 = _search("bm25", "compress data with gzip")
    assert bm25["hits"] and any("gzip" in h["doc_id"] for h in bm25["hits"]), bm25


def test_compose_up_runs_the_demo_and_the_host_searches(up: Up, tmp_path: Path) -> None:
    compose, _ = up("docker-compose.yml")
    logs = compose.logs("demo", 5000)
    assert "deployed" in logs and "documents stored" in logs, logs[-6000:]
    _check_search_from_host(replicas=0)
    # The demo's hint, followed on the host: no container path in it, and it works here.
    assert f"opensearch-sparse idf build --index {INDEX}\n" in logs, logs[-2000:]
    assert "--model" not in logs, logs[-2000:]
    built = _cli("idf", "build", "--index", INDEX, "--url", URL, cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    idf = str(tmp_path / f"idf-{INDEX}.json")
    proc = _cli("search", INDEX, "compress data with gzip", "--json", "--url", URL, "--idf", idf)
    assert proc.returncode == 0 and json.loads(proc.stdout)["hits"], proc.stderr


def test_three_node_compose_replicates_the_demo(up: Up) -> None:
    up("docker-compose.cluster.yml")
    nodes = requests.get(f"{URL}/_cat/nodes", params={"format": "json"}, timeout=30).json()
    layout = ClusterLayout(config.DEFAULT_PORT, 3)
    assert sorted(n["name"] for n in nodes) == [layout.node_name(p) for p in layout.http_ports]
    health = requests.get(f"{URL}/_cluster/health/{INDEX}", timeout=30).json()
    assert health["status"] == "green", health  # every replica assigned on another node
    _check_search_from_host(replicas=1)


@pytest.mark.parametrize("file", ["docker-compose.yml", "docker-compose.cluster.yml"])
def test_compose_files_are_valid(file: str, compose_env: dict[str, str]) -> None:
    proc = _run([*compose_command(), "-f", file, "config", "-q"], 120, env=compose_env)
    assert proc.returncode == 0, proc.stderr


#: The Compose Specification's JSON schema as `docker compose` v2 validates files with it
#: (compose-go), fetched from the Go module proxy: no v2 runs on the test machines.
COMPOSE_GO = "https://proxy.golang.org/github.com/compose-spec/compose-go/v2/@v/v2.16.2.zip"
SCHEMA_MEMBER = "github.com/compose-spec/compose-go/v2@v2.16.2/schema/compose-spec.json"


@pytest.fixture(scope="module")
def compose_spec() -> jsonschema.protocols.Validator:
    fetched = requests.get(COMPOSE_GO, timeout=120)
    assert fetched.status_code == 200, f"cannot fetch {COMPOSE_GO}: {fetched.status_code}"
    with zipfile.ZipFile(io.BytesIO(fetched.content)) as module:
        schema = json.loads(module.read(SCHEMA_MEMBER))
    return jsonschema.validators.validator_for(schema)(schema)


@pytest.mark.parametrize("file", ["docker-compose.yml", "docker-compose.cluster.yml"])
def test_compose_files_follow_the_compose_specification(
    file: str, compose_spec: jsonschema.protocols.Validator
) -> None:
    doc = yaml.safe_load((REPO / file).read_text())
    assert [e.message for e in compose_spec.iter_errors(doc)] == []
    service = next(iter(doc["services"]))
    doc["services"][service]["restart_policy"] = "always"  # not a service key: v2 refuses the file
    assert list(compose_spec.iter_errors(doc))
