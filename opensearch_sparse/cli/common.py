"""Options every cluster-facing command shares: where the cluster is and how to log in.

There is deliberately no ``--password``: a flag shows in ``ps`` and in shell history. The
password comes from ``OPENSEARCH_SPARSE_PASSWORD`` or a file (``--password-file``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, TextIO, TypeVar

import click
from opensearchpy import OpenSearch

from opensearch_sparse.cli import output
from opensearch_sparse.client import InsecureConnectionWarning, check_reachable, make_client
from opensearch_sparse.config import AWS_SERVICES, ClusterConfig

F = TypeVar("F", bound=Callable[..., Any])


def connection_options(func: F) -> F:
    """--url/--username/--password-file/--ca-certs/--insecure/--aws-region/--aws-service,
    each defaulting to OPENSEARCH_SPARSE_*."""
    options = [
        click.option("--url", default=None, help="Cluster URL [env URL; http://127.0.0.1:9200]"),
        click.option("--username", default=None, help="Basic-auth user [env USERNAME]"),
        click.option(
            "--password-file",
            default=None,
            help="File whose first line is the password [env PASSWORD_FILE; or env PASSWORD]",
        ),
        click.option("--ca-certs", default=None, help="CA bundle for TLS [env CA_CERTS]"),
        click.option(
            "--insecure",
            is_flag=True,
            default=False,
            help="Skip TLS certificate verification (warns on every run)",
        ),
        click.option(
            "--aws-region",
            default=None,
            help="Sign requests with AWS SigV4 for this region [env AWS_REGION]",
        ),
        click.option(
            "--aws-service",
            type=click.Choice(AWS_SERVICES),
            default=None,
            help="SigV4 service: es (OpenSearch Service) or aoss (Serverless) [env AWS_SERVICE]",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


_python_showwarning = warnings.showwarning


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """Insecure-connection warnings print as the CLI's own ``warning:`` lines (each run makes
    one client, so each run warns); other warnings keep Python's format."""
    if issubclass(category, InsecureConnectionWarning):
        output.info(f"warning: {message}")
    else:
        _python_showwarning(message, category, filename, lineno, file, line)


def connect(
    url: str | None,
    username: str | None,
    password_file: str | None,
    ca_certs: str | None,
    insecure: bool,
    aws_region: str | None,
    aws_service: str | None,
) -> OpenSearch:
    """A client for the chosen cluster, checked to answer (one-line error otherwise); each
    insecure setting is printed as a warning on every run."""
    base = ClusterConfig()
    cfg = ClusterConfig(
        url=url or base.url,
        username=username or base.username,
        # A file given on the command line replaces whatever the environment holds.
        password=None if password_file else base.password,
        password_file=password_file or base.password_file,
        verify_certs=base.verify_certs and not insecure,
        ca_certs=ca_certs or base.ca_certs,
        timeout_s=base.timeout_s,
        aws_region=aws_region or base.aws_region,
        aws_service=aws_service or base.aws_service,
    )
    warnings.showwarning = _show_warning
    client = make_client(cfg)
    check_reachable(client, cfg)
    return client
