"""Generators that write MIDI from audio (runtime: onnxruntime only)."""
