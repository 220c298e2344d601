"""Beat classification (ONNX runtime) and rhythm analysis."""
