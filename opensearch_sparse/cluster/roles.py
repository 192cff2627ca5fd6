"""The users of a secured local node and what each may do, as HTTP method + path rules.

The proxy in front of the node (``cluster/proxy.py``) sees requests, not OpenSearch actions,
so a role is a list of (methods, path) pairs matched against the raw request path exactly as
OpenSearch will route it. Anything not listed is refused (403). One user per role, named after
it, keeps ``cluster env --user search`` obvious.

What path rules cannot do (see README, threat model): ``_bulk`` and ``_msearch`` bodies name
their own indices, so a role separates *kinds* of operation (read, write documents, manage
models), not *which* index; index-, document- and field-level security need the OpenSearch
security plugin.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: One index name, pattern or comma list as OpenSearch reads the first path segment; never
#: ``_something`` (an API) or ``.something`` (hidden and system indices such as ml-commons'
#: model store).
INDEX = r"[^/_.][^/]*"


@dataclass(frozen=True)
class Role:
    name: str
    summary: str
    #: (methods, path regex): the regex must match the whole path (no query string).
    rules: tuple[tuple[str, str], ...]
    #: Unrestricted: every method and path, including hidden indices.
    everything: bool = False

    def allows(self, method: str, path: str) -> bool:
        """The decision the proxy makes, in Python (unit tests check the table with it)."""
        if self.everything:
            return True
        if SNEAKY.search(path):
            return False
        return any(
            re.fullmatch(methods, method) and re.fullmatch(pattern, path)
            for methods, pattern in (*EVERYONE, *self.rules)
        )


#: Encoded dots and slashes, and dot segments, would make the proxy and OpenSearch read a path
#: differently; no request the product makes needs them, so only the admin may send them.
SNEAKY = re.compile(r"%2[eEfF]|/\.")

#: What every authenticated user may do: see that the cluster answers (``client.info()``).
EVERYONE: tuple[tuple[str, str], ...] = (
    ("GET|HEAD", r"/"),
    ("GET", r"/_cluster/health(/[^/]+)?"),
)

_SEARCH: tuple[tuple[str, str], ...] = (
    ("GET|POST", rf"/{INDEX}/(_search|_msearch|_count|_mget)"),
    ("GET|POST|DELETE", r"/_search/scroll(/[^/]+)?"),  # `idf build --index` scans the index
    ("GET", r"/_search/pipeline(/[^/]+)?"),  # hybrid and two-phase pipelines: use, not change
    # `_mapping/field/...`: search and local ingest read what kind of sparse field it is
    ("GET|HEAD", rf"/{INDEX}(/_mapping(/field/[^/]+)?|/_doc/[^/]+)?"),
)

_INGEST: tuple[tuple[str, str], ...] = (
    *_SEARCH,
    ("PUT|DELETE", rf"/{INDEX}"),  # `index create [--replace]`
    ("GET|PUT", r"/_ingest/pipeline/[^/]+"),  # the index's sparse_encoding pipeline
    ("PUT", r"/_search/pipeline/[^/]+"),  # `index create` sets up the search pipelines
    ("POST|PUT", rf"(/{INDEX})?/_bulk"),
    ("POST|PUT|DELETE", rf"/{INDEX}/_doc(/[^/]+)?"),
    ("POST|PUT", rf"/{INDEX}/(_create|_update)/[^/]+"),
    ("GET|POST", rf"/{INDEX}/_refresh"),
)

_MODEL_ADMIN: tuple[tuple[str, str], ...] = (
    ("GET|POST|PUT|DELETE", r"/_plugins/_ml/.*"),  # groups, register, upload, deploy, predict
    ("GET", r"/_cluster/settings"),  # `model register` checks the ml-commons settings
)

ROLES: dict[str, Role] = {
    role.name: role
    for role in (
        Role("admin", "everything, including cluster settings and hidden indices", (), True),
        Role("search", "search, count and read documents; use the search pipelines", _SEARCH),
        Role("ingest", "create and replace indices, pipelines and documents; search", _INGEST),
        Role("model-admin", "ml-commons: register, deploy, predict, undeploy", _MODEL_ADMIN),
    )
}


def nginx_access_map() -> str:
    """The body of an nginx ``map "$remote_user $request_method $os_path" $os_allowed``.

    Regex entries are tried in order: the admin first, then the refusal of ambiguous paths,
    then each role's rules; the default refuses.
    """
    lines = ["default 0;"]
    for role in ROLES.values():
        if role.everything:
            lines.append(f'"~^{re.escape(role.name)} " 1;')
    lines.append(f'"~^[^ ]+ [A-Z]+ .*({SNEAKY.pattern})" 0;')
    for methods, pattern in EVERYONE:
        lines.append(f'"~^[^ ]+ ({methods}) {pattern}$" 1;')
    for role in ROLES.values():
        for methods, pattern in role.rules:
            lines.append(f'"~^{re.escape(role.name)} ({methods}) {pattern}$" 1;')
    return "\n".join(lines)
