"""Models out of the suite: embeddings for trackers and retrieval, ONNX and TorchScript files, the CLIs.

    FeatureExtractor   checkpoint -> embeddings of paths, PIL images, arrays, (frame, boxes) crops
    export_model       checkpoint -> ONNX / TorchScript (fp32, fp16; int8 ONNX) with the input contract as metadata
    read_contract      the contract stored in an exported file
    reid-export, reid-embed   the command lines (cli.py)

Names are imported on first use, so `import reid_lightning` stays cheap (no Lightning, no onnx).
"""

import importlib

_HOMES = {
    "FeatureExtractor": "reid_lightning.deploy.extractor",
    "EmbeddingModel": "reid_lightning.deploy.embedding_model",
    "Preprocessing": "reid_lightning.deploy.preprocessing",
    "load_model": "reid_lightning.deploy.trained_model",
    "export_model": "reid_lightning.deploy.export",
    "read_contract": "reid_lightning.deploy.export",
}
__all__ = list(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
