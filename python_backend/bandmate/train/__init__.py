"""Training entry points (need the ``train`` extra: torch==2.13.0, onnx, onnxscript)."""
