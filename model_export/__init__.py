"""Export a sparse MLM checkpoint into the zip ml-commons deploys as a SPARSE_ENCODING model.

Needs the ``train`` extra (torch, transformers, onnx); indexing and querying never import this.
"""

from model_export.errors import ExportError
from model_export.export import export_onnx, export_torchscript
from model_export.package import PackageResult, package
from model_export.parity import ParityResult, check_parity

__all__ = [
    "ExportError",
    "PackageResult",
    "ParityResult",
    "check_parity",
    "export_onnx",
    "export_torchscript",
    "package",
]
