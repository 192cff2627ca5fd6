"""Options every cluster-facing command shares: where the cluster is and how to log in."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click
from opensearchpy import OpenSearch

from opensearch_sparse.client import check_reachable, make_client
from opensearch_sparse.config import ClusterConfig

F = TypeVar("F", bound=Callable[..., Any])


def connection_options(func: F) -> F:
    """--url/--username/--password/--ca-certs/--insecure, each defaulting to OPENSEARCH_SPARSE_*."""
    options = [
        click.option("--url", default=None, help="Cluster URL [env URL; http://127.0.0.1:9200]"),
        click.option("--username", default=None, help="Basic-auth user [env USERNAME]"),
        click.option("--password", default=None, help="Basic-auth password [env PASSWORD]"),
        click.option("--ca-certs", default=None, help="CA bundle for TLS [env CA_CERTS]"),
        click.option(
            "--insecure", is_flag=True, default=False, help="Skip TLS certificate verification"
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def connect(
    url: str | None,
    username: str | None,
    password: str | None,
    ca_certs: str | None,
    insecure: bool,
) -> OpenSearch:
    """A client for the chosen cluster, checked to answer (one-line error otherwise)."""
    base = ClusterConfig()
    cfg = ClusterConfig(
        url=url or base.url,
        username=username or base.username,
        password=password or base.password,
        verify_certs=base.verify_certs and not insecure,
        ca_certs=ca_certs or base.ca_certs,
        timeout_s=base.timeout_s,
    )
    client = make_client(cfg)
    check_reachable(client, cfg.url)
    return client
