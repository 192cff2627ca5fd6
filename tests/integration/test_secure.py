"""A secured node for real: ``cluster start --secure`` (nginx with TLS and users in front of the
node), reached only the way a user would, through ``eval "$(opensearch-sparse cluster env)"``
and the CLI: refusals (anonymous, wrong password, plain HTTP, foreign CA, a search-only user
writing) are one clear line each, and register, deploy, pipeline and local ingest and every
search mode work for the user whose role allows them. No password reaches any output or log.

The node runs on ``OPENSEARCH_SPARSE_TEST_SECURE_PORT`` (default 9251); one already running
there is reused and left running.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from opensearch_sparse.cluster import LocalCluster
from opensearch_sparse.cluster.pki import Pki
from opensearch_sparse.cluster.roles import ROLES
from opensearch_sparse.cluster.secure import SecureCluster
from opensearch_sparse.config import CONNECTION_VARIABLES, ENV_PREFIX
from opensearch_sparse.models import default_model_dir

PORT = int(os.environ.get("OPENSEARCH_SPARSE_TEST_SECURE_PORT", "9251"))
MODEL = default_model_dir()
QUERY = "gallo roman architecture in paris"


@dataclass
class Secured:
    """The running secured node and a way to run the CLI as one of its users."""

    node: SecureCluster
    #: stdout + stderr of every CLI run, checked for passwords at the end.
    transcript: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.node.url

    def run(
        self, user: str, *args: str, unset: tuple[str, ...] = ()
    ) -> subprocess.CompletedProcess[str]:
        """``eval "$(opensearch-sparse cluster env --port P --user USER)"``, then the command,
        in bash exactly as the README says."""
        cli = f"{sys.executable} -m opensearch_sparse"
        script = "\n".join(
            [
                "set -e",
                f'eval "$({cli} cluster env --port {PORT} --user {user})"',
                *(f"unset {ENV_PREFIX}{name}" for name in unset),
                f'exec {cli} "$@"',
            ]
        )
        env = {
            k: v
            for k, v in os.environ.items()
            if k.removeprefix(ENV_PREFIX) not in CONNECTION_VARIABLES
        }
        proc = subprocess.run(
            ["bash", "-c", script, "opensearch-sparse", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=900,
            check=False,
        )
        self.transcript.append(proc.stdout + proc.stderr)
        return proc

    def ok(self, user: str, *args: str) -> str:
        proc = self.run(user, *args)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    def refused(self, user: str, *args: str, unset: tuple[str, ...] = ()) -> str:
        """The command fails with exactly one error line and one fix line; returns them."""
        proc = self.run(user, *args, unset=unset)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert "Traceback" not in proc.stderr
        lines = [line for line in proc.stderr.splitlines() if line.startswith(("error:", "fix:"))]
        assert [line.split(":")[0] for line in lines] == ["error", "fix"], proc.stderr
        return "\n".join(lines)


@pytest.fixture(scope="module")
def secured() -> Iterator[Secured]:
    node = SecureCluster(LocalCluster(port=PORT))
    was_running = node.is_running()
    start = subprocess.run(
        [
            sys.executable,
            "-m",
            "opensearch_sparse",
            "cluster",
            "start",
            "--secure",
            "--port",
            str(PORT),
            "--timeout",
            "900",
        ],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert start.returncode == 0, start.stderr
    if not was_running:
        assert start.stdout.strip() == f"https://127.0.0.1:{PORT}"
    try:
        yield Secured(node, [start.stdout + start.stderr])
    finally:
        if not was_running:
            node.stop()


@pytest.fixture(scope="module")
def model_id(secured: Secured) -> str:
    """The shipped encoder, registered and deployed by the model-admin user."""
    return secured.ok("model-admin", "model", "register", str(MODEL)).split()[-1]


@pytest.fixture(scope="module")
def tokenizer_id(secured: Secured, tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("tok") / "query-tokenizer.zip"
    return secured.ok(
        "model-admin",
        "model",
        "register-tokenizer",
        "--model",
        str(MODEL),
        "--idf",
        str(MODEL / "idf.json"),
        "--out",
        str(out),
    ).split()[-1]


@pytest.fixture(scope="module")
def indices(secured: Secured, model_id: str, beir_mini: Path) -> Iterator[dict[str, str]]:
    """The fixture corpus ingested by the ingest user, through the pipeline and locally."""
    tag = uuid.uuid4().hex[:8]
    names = {"pipeline": f"secure-pipe-{tag}", "local": f"secure-local-{tag}"}
    try:
        secured.ok("ingest", "index", "create", names["pipeline"], "--model-id", model_id)
        secured.ok("ingest", "ingest", names["pipeline"], str(beir_mini))
        secured.ok("ingest", "index", "create", names["local"])
        secured.ok(
            "ingest",
            "ingest",
            names["local"],
            str(beir_mini),
            "--encode",
            "local",
            "--model",
            str(MODEL),
        )
        yield names
    finally:
        admin = secured.node.client("admin")
        for name in names.values():
            admin.indices.delete(index=name, ignore_unavailable=True)


# --- what the endpoint is --------------------------------------------------------------------


def test_tls_only_and_the_node_on_loopback(secured: Secured) -> None:
    plain = requests.get(f"http://127.0.0.1:{PORT}/", timeout=30)
    assert plain.status_code == 400
    assert "HTTPS only" in plain.json()["error"]["reason"]
    backend = json.loads((secured.node.node_dir / "node.json").read_text())["port"]
    assert backend != PORT
    yml = (secured.node.node_dir / "config" / "opensearch.yml").read_text()
    assert 'network.host: "127.0.0.1"' in yml and f'http.port: "{backend}"' in yml
    assert f"listen 127.0.0.1:{PORT} ssl;" in secured.node.proxy.conf_path.read_text()
    status = secured.ok("admin", "cluster", "status", "--port", str(PORT))
    assert f"running   https://127.0.0.1:{PORT}" in status


def test_secrets_are_owner_only(secured: Secured) -> None:
    folder = secured.node.folder
    for path in [folder / "server.key", folder / "htpasswd", *(folder / "users").iterdir()]:
        assert path.stat().st_mode & 0o777 == 0o600, path
    assert (folder / "users").stat().st_mode & 0o777 == 0o700
    assert not list(folder.glob("ca*.key"))  # the CA's key was never written


def test_anonymous_is_refused(secured: Secured) -> None:
    raw = requests.get(secured.url, verify=str(secured.node.pki.ca), timeout=30)
    assert raw.status_code == 401 and raw.headers["WWW-Authenticate"].startswith("Basic")
    message = secured.refused("admin", "model", "list", unset=("USERNAME", "PASSWORD_FILE"))
    assert message.splitlines()[0] == (
        f"error: {secured.url} needs a user name and password (401): no credentials were "
        "sent (this node needs a user name and password)"
    )


def test_wrong_password_is_one_clear_line(secured: Secured, tmp_path: Path) -> None:
    wrong = tmp_path / "pw"
    wrong.write_text("not-the-password\n")
    wrong.chmod(0o600)
    message = secured.refused("search", "model", "list", "--password-file", str(wrong))
    assert message.splitlines()[0] == (
        f"error: {secured.url} refused the credentials of user search (401): "
        "the user name or password is wrong"
    )


def test_plain_http_to_the_tls_port_is_a_clear_error(secured: Secured) -> None:
    message = secured.refused("admin", "model", "list", "--url", f"http://127.0.0.1:{PORT}")
    assert message == (
        f"error: http://127.0.0.1:{PORT} speaks TLS only; plain HTTP was refused\n"
        f"fix: use https://127.0.0.1:{PORT}"
    )


def test_a_foreign_ca_is_named(secured: Secured, tmp_path: Path) -> None:
    other = Pki(tmp_path / "other")
    other.issue(["127.0.0.1"], "another install")
    message = secured.refused("admin", "model", "list", "--ca-certs", str(other.ca))
    assert message.splitlines()[0] == (
        f"error: the certificate of {secured.url} is not signed by the CA in {other.ca}"
    )


def test_insecure_warns_on_every_run(secured: Secured) -> None:
    for _ in range(2):
        proc = secured.run("model-admin", "model", "list", "--insecure", unset=("CA_CERTS",))
        assert proc.returncode == 0, proc.stderr
        assert proc.stderr.startswith(
            f"warning: TLS certificates of {secured.url} are not verified"
        )


# --- least privilege -------------------------------------------------------------------------

# (user, method, path, allowed). Allowed writes use an upper-case index name or an empty body,
# which OpenSearch itself rejects (400): the point is only that the proxy let them through.
OVER_THE_WIRE = [
    ("search", "POST", "/nosuchindex/_search", True),
    ("search", "GET", "/_search/pipeline/opensearch-sparse-hybrid", True),
    ("search", "POST", "/_bulk", False),
    ("search", "PUT", "/NewIndex", False),
    ("search", "PUT", "/_search/pipeline/x", False),
    ("search", "POST", "/_plugins/_ml/models/_search", False),
    ("search", "GET", "/.plugins-ml-model/_search", False),
    ("search", "GET", "/%2Eplugins-ml-model/_search", False),
    ("ingest", "POST", "/_bulk", True),
    ("ingest", "PUT", "/NewIndex", True),
    ("ingest", "POST", "/_plugins/_ml/models/_search", False),
    ("ingest", "PUT", "/_cluster/settings", False),
    ("model-admin", "POST", "/_plugins/_ml/models/_search", True),
    ("model-admin", "GET", "/_cluster/settings", True),
    ("model-admin", "PUT", "/_cluster/settings", False),
    ("model-admin", "POST", "/_bulk", False),
    ("admin", "GET", "/.plugins-ml-model/_search", True),
]


def test_roles_over_the_wire_match_the_role_table(secured: Secured) -> None:
    """The nginx map decides exactly as ``roles.Role.allows`` does, on the real proxy."""
    for user, method, path, allowed in OVER_THE_WIRE:
        assert ROLES[user].allows(method, path) is allowed, (user, method, path)
        resp = requests.request(
            method,
            secured.url + path,
            auth=(user, secured.node.password(user)),
            verify=str(secured.node.pki.ca),
            headers={"Content-Type": "application/json"},
            data="{}" if method in ("POST", "PUT") else None,
            timeout=60,
        )
        assert (resp.status_code == 403) is not allowed, (user, method, path, resp.text)
        if not allowed:
            reason = resp.json()["error"]["reason"]
            assert (
                reason.startswith(f"no permissions for [{method} ") and f"[name={user}]" in reason
            )


def test_search_user_cannot_ingest_create_an_index_or_register(
    secured: Secured, indices: dict[str, str], beir_mini: Path
) -> None:
    ingest = secured.refused("search", "ingest", indices["pipeline"], str(beir_mini))
    assert "(403, not allowed for this user): no permissions for [POST /_bulk]" in ingest
    assert "[name=search]" in ingest
    create = secured.refused("search", "index", "create", "never-created")
    assert "no permissions for [PUT /never-created] and User [name=search]" in create
    register = secured.refused("search", "model", "register", str(MODEL))
    assert "(403, not allowed for this user)" in register and "[name=search]" in register


def test_ingest_and_model_admin_stay_in_their_lanes(secured: Secured, beir_mini: Path) -> None:
    register = secured.refused("ingest", "model", "register", str(MODEL))
    assert "[name=ingest]" in register
    # `index create` asks first whether the index exists: a HEAD request, refused without a
    # body to carry a reason.
    create = secured.refused("model-admin", "index", "create", "never-created")
    assert create.splitlines()[0] == (
        "error: the cluster refused the request (403, not allowed for this user)"
    )


# --- the product's paths, each by the user whose role allows it ------------------------------


def test_both_ingest_paths_store_every_document(secured: Secured, indices: dict[str, str]) -> None:
    client = secured.node.client("search")
    for name in indices.values():
        assert client.count(index=name)["count"] == 300, name


def _search(secured: Secured, index: str, *args: str) -> list[str]:
    out = secured.ok("search", "search", index, QUERY, "--json", "-k", "5", *args)
    return [hit["doc_id"] for hit in json.loads(out)["hits"]]


def test_every_search_mode_works_for_the_search_user(
    secured: Secured, indices: dict[str, str], tokenizer_id: str
) -> None:
    encoder = ("--model", str(MODEL), "--idf", str(MODEL / "idf.json"))
    pipe, local = indices["pipeline"], indices["local"]
    sparse = _search(secured, pipe, "--mode", "sparse", *encoder)
    assert len(sparse) == 5
    # Same encoder on both ingest paths, same client-side query: the same best document.
    assert _search(secured, local, "--mode", "sparse", *encoder)[0] == sparse[0]
    assert _search(secured, pipe, "--mode", "sparse", "--two-phase", *encoder)[0] == sparse[0]
    # The cluster tokenizes and weights with the same idf.json: the same ranking.
    assert _search(secured, pipe, "--mode", "sparse", "--server-encode", tokenizer_id) == sparse
    bm25 = _search(secured, pipe, "--mode", "bm25")
    hybrid = _search(secured, pipe, "--mode", "hybrid", *encoder)
    assert (
        bm25
        and hybrid
        and set(hybrid)
        <= set(bm25) | set(_search(secured, pipe, "--mode", "sparse", "-k", "50", *encoder))
    )


def test_no_password_in_any_output_or_log(secured: Secured) -> None:
    """Runs last: every command above, the proxy's logs and the node's logs."""
    passwords = [secured.node.password(user) for user in ROLES]
    logs = secured.node.node_dir / "logs"
    texts = [*secured.transcript]
    texts += [p.read_text(errors="replace") for p in logs.glob("*.log") if p.is_file()]
    assert len(secured.transcript) > 10
    for text in texts:
        for password in passwords:
            assert password not in text
