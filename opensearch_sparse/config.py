"""Every default of the product, in one place.

Each value can be overridden by an environment variable (``OPENSEARCH_SPARSE_*``) and, in the
CLI, by a flag; the flag wins over the environment, which wins over the default here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

ENV_PREFIX = "OPENSEARCH_SPARSE_"

#: The OpenSearch release the embedded node runs and docker-compose.yml pins. 3.6.0 is the first
#: 3.x release for which the server and all four plugins resolve on Maven Central (3.5.0 lacks
#: the ml-commons, neural-search and job-scheduler zips).
OPENSEARCH_VERSION = "3.6.0"

#: The plugins the product needs, in install order (each one extends the previous ones).
PLUGINS: tuple[str, ...] = (
    "opensearch-job-scheduler",
    "opensearch-knn",
    "opensearch-ml-plugin",
    "neural-search",
)

#: Modules that must be in the distribution: painless (k-NN extends it) and mapper-extras
#: (it registers the ``rank_features`` field type).
REQUIRED_MODULES: tuple[str, ...] = ("lang-painless", "mapper-extras")

#: ml-commons settings for a single local node that is also the ML node. The embedded node
#: writes them to opensearch.yml, docker-compose.yml sets them as environment, and
#: ``mlcommons`` re-applies them as persistent cluster settings on any cluster it talks to.
ML_COMMONS_SETTINGS: dict[str, str] = {
    "plugins.ml_commons.only_run_on_ml_node": "false",
    "plugins.ml_commons.allow_registering_model_via_local_file": "true",
    "plugins.ml_commons.native_memory_threshold": "100",
    "plugins.ml_commons.jvm_heap_memory_threshold": "100",
    "plugins.ml_commons.disk_free_space_threshold": "0b",
}

#: DJL/PyTorch that ml-commons 3.x loads for local models. Maven Central serves the cxx11-ABI
#: build only; it is staged under the pre-cxx11 directory name ml-commons asks for (it forces
#: PYTORCH_PRECXX11), together with the JNI library built for the same ABI.
PYTORCH_VERSION = "2.5.1"
DJL_VERSION = "0.31.1"
PYTORCH_JNI_VERSION = "2.5.1-0.32.0"

DEFAULT_PORT = 9200
DEFAULT_HEAP = "1g"
DEFAULT_START_TIMEOUT_S = 180.0
SERVICE_USER = "opensearch-sparse"

#: ``cluster start --secure``: the address the TLS proxy listens on (0.0.0.0 serves the
#: network; the node behind it always stays on loopback), certificate lifetimes (the server
#: certificate is re-issued on start when fewer than CERT_RENEW_DAYS are left), and the
#: largest request body and slowest answer the proxy lets through (OpenSearch's own
#: http.max_content_length, and ingest's request timeout).
DEFAULT_BIND = "127.0.0.1"
CA_VALID_DAYS = 3650
CERT_VALID_DAYS = 397
CERT_RENEW_DAYS = 30
PROXY_MAX_BODY = "100m"
PROXY_TIMEOUT_S = 600

#: SigV4 signing names: Amazon OpenSearch Service domains and OpenSearch Serverless.
AWS_SERVICES = ("es", "aoss")

# Bulk ingest: a transient failure (429, 502-504, a dropped connection, a restarting node) is
# retried this many times, waiting INGEST_BACKOFF_S doubled each time up to the cap.
INGEST_RETRIES = 8
INGEST_BACKOFF_S = 1.0
INGEST_BACKOFF_MAX_S = 30.0
# A search the cluster refuses as busy (429 from a TRANSIENT circuit breaker, e.g. the
# real-memory one on a 1 GB node) or while (re)starting (502-504) is asked again after each of
# these pauses before the refusal is reported: about 1.5 s in all, short enough for a user
# waiting at a prompt. A full test run once lost a relevance run to one such 429.
SEARCH_RETRY_PAUSES_S = (0.1, 0.3, 1.0)
#: OpenSearch refuses a whole bulk request when one ``_id`` is longer than this (UTF-8 bytes).
MAX_ID_BYTES = 512


def env(name: str, default: str | None = None) -> str | None:
    """Read ``OPENSEARCH_SPARSE_<NAME>`` (empty counts as unset)."""
    value = os.environ.get(ENV_PREFIX + name)
    return value if value else default


def default_home() -> Path:
    """Where downloads, the installed node and its data live unless told otherwise.

    Root gets a system path because the node itself runs as a dedicated user that cannot
    traverse /root; everyone else gets the XDG cache directory.
    """
    override = env("HOME")
    if override:
        return Path(override).expanduser().resolve()
    if os.geteuid() == 0:
        return Path("/var/lib/opensearch-sparse")
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "opensearch-sparse"


#: The environment variables that say how to reach a cluster (``cluster env`` sets or unsets
#: all of them, so no variable from an earlier cluster lingers).
CONNECTION_VARIABLES = (
    "URL",
    "USERNAME",
    "PASSWORD",
    "PASSWORD_FILE",
    "CA_CERTS",
    "VERIFY_CERTS",
    "AWS_REGION",
    "AWS_SERVICE",
)


@dataclass(frozen=True)
class ClusterConfig:
    """How to reach a cluster: the embedded node by default, any cluster by URL.

    The password comes from ``PASSWORD`` or the file named by ``PASSWORD_FILE`` (never from a
    flag, which ``ps`` and shell history would show); ``client.make_client`` reads the file.
    It is left out of ``repr`` so configs can be logged. With ``aws_region`` set, requests are
    signed with AWS SigV4 (credentials from boto3's usual chain) instead of basic auth.
    """

    url: str = field(default_factory=lambda: env("URL", f"http://127.0.0.1:{DEFAULT_PORT}") or "")
    username: str | None = field(default_factory=lambda: env("USERNAME"))
    password: str | None = field(default_factory=lambda: env("PASSWORD"), repr=False)
    password_file: str | None = field(default_factory=lambda: env("PASSWORD_FILE"))
    verify_certs: bool = field(
        default_factory=lambda: (
            (env("VERIFY_CERTS", "true") or "true").lower() not in ("0", "false", "no")
        )
    )
    ca_certs: str | None = field(default_factory=lambda: env("CA_CERTS"))
    timeout_s: float = field(default_factory=lambda: float(env("TIMEOUT", "60") or 60))
    aws_region: str | None = field(default_factory=lambda: env("AWS_REGION"))
    aws_service: str = field(default_factory=lambda: env("AWS_SERVICE", "es") or "es")


@dataclass(frozen=True)
class NodeConfig:
    """The embedded local node: what to run and where to keep it."""

    version: str = field(default_factory=lambda: env("VERSION", OPENSEARCH_VERSION) or "")
    home: Path = field(default_factory=default_home)
    port: int = field(default_factory=lambda: int(env("PORT", str(DEFAULT_PORT)) or DEFAULT_PORT))
    heap: str = field(default_factory=lambda: env("HEAP", DEFAULT_HEAP) or DEFAULT_HEAP)
    data_dir: Path | None = field(
        default_factory=lambda: Path(p).expanduser().resolve() if (p := env("DATA_DIR")) else None
    )
    java_home: Path | None = field(
        default_factory=lambda: Path(p) if (p := env("JAVA_HOME")) else None
    )
    start_timeout_s: float = field(
        default_factory=lambda: float(env("START_TIMEOUT", str(DEFAULT_START_TIMEOUT_S)) or 0)
    )

    @property
    def node_dir(self) -> Path:
        """Config, data, logs and the state file of the node on this port."""
        return self.data_dir or self.home / "nodes" / f"node-{self.port}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"
