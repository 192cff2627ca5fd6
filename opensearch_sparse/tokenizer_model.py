"""The server-side alternative to client query encoding: the document encoder's tokenizer
and the same idf.json packaged as an ml-commons SPARSE_TOKENIZE model, so a query can be sent
as ``query_text`` + ``model_id`` and weighted inside OpenSearch exactly as the client would.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from opensearch_sparse.idf import IdfTable
from opensearch_sparse.query_encoder import load_tokenizer_json

# Fixed timestamps: the same inputs give the same bytes, so registration is reused.
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def package_tokenizer_model(model: Path, idf: Path, out: Path) -> Path:
    """Write ``out`` (a zip holding tokenizer.json and idf.json) and return it."""
    tokenizer_json = load_tokenizer_json(model)
    table = IdfTable.load(idf)  # validates the file before it reaches the server
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        idf_json = json.dumps(table.weights, ensure_ascii=False, sort_keys=True)
        for name, text in (("tokenizer.json", tokenizer_json), ("idf.json", idf_json)):
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, text)
    return out
