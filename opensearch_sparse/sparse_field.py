"""What kind of sparse field an existing index has, read from the cluster.

Ingest and search must know it before they send anything: a SEISMIC ``sparse_vector`` field
takes vocabulary ids as keys where ``rank_features`` takes token strings, and refuses the other
spelling ("Query tokens should be valid integer"). The field-mapping API answers it, and is
allowed to readers: OpenSearch security's ``read`` action group, and the local proxy's
``search`` role.
"""

from __future__ import annotations

from typing import Any

from opensearchpy import OpenSearch
from opensearchpy.exceptions import AuthorizationException, NotFoundError

from opensearch_sparse.errors import SparseError
from opensearch_sparse.schema import FIELD_TYPES, SPARSE_FIELD, SparseKind


def kinds_in(response: dict[str, Any]) -> set[SparseKind]:
    """The sparse-field kinds in a ``GET INDEX/_mapping/field/text_sparse`` answer (one entry
    per index behind the name; an index without the field, or with another type, adds none)."""
    kinds: set[SparseKind] = set()
    for entry in response.values():
        field = entry.get("mappings", {}).get(SPARSE_FIELD, {})
        field_type = field.get("mapping", {}).get(SPARSE_FIELD, {}).get("type")
        if field_type in FIELD_TYPES:
            kinds.add(FIELD_TYPES[field_type])
    return kinds


def sparse_kind(client: OpenSearch, index: str) -> SparseKind | None:
    """The kind of ``index``'s sparse field; None where the index has none or the mapping
    cannot be read (a missing index or a user without read rights: the request that follows
    then fails with the server's own words)."""
    try:
        response = client.indices.get_field_mapping(fields=SPARSE_FIELD, index=index)
    except (NotFoundError, AuthorizationException):
        return None
    kinds = kinds_in(response)
    if len(kinds) > 1:
        raise SparseError(
            f"the indices behind {index} index {SPARSE_FIELD} in different ways "
            f"({' and '.join(sorted(kinds))})",
            "search or fill one index at a time",
        )
    return kinds.pop() if kinds else None
