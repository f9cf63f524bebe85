"""``bandmate match --reference REF.wav IN.wav OUT.wav [amount=...]``: a Reference and a
Target instance of the real BandmateXSpecMatch plugin (CLAP, our host, deterministic),
linked through the backend, rendered in interleaved chunks as a DAW would play two tracks."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def match_audio(reference: np.ndarray, audio: np.ndarray, rate: int, params: dict[str, float] | None = None,
                group: int = 16, chunk: int = 4096, plugin: str | Path | None = None) -> np.ndarray:
    """(channels, n) float32 in -> matched (channels, n), latency-compensated."""
    import plugin_host as ph
    from bandmate.paths import find_plugin

    path = str(plugin or find_plugin("BandmateXSpecMatch", "clap"))
    ref, tgt = ph.ClapPlugin(path), ph.ClapPlugin(path)
    for p, role in ((ref, "Reference"), (tgt, "Target")):
        p.set_param("Deterministic", 1.0)
        p.set_param("Link group", group)
        p.set_param("Role", role)
    for key, value in (params or {}).items():
        tgt.set_param(key, value)
    for p in (ref, tgt):
        if not p.activate(rate, max_block=chunk):
            raise ValueError(f"BandmateXSpecMatch refused {rate} Hz")
    lat = tgt.latency
    n = audio.shape[1]
    x = np.concatenate([audio, np.zeros((audio.shape[0], lat), np.float32)], axis=1)
    r = np.zeros((reference.shape[0], x.shape[1]), np.float32)
    r[:, : min(reference.shape[1], x.shape[1])] = reference[:, : x.shape[1]]
    out = []
    for s in range(0, x.shape[1], chunk):
        ref.process(r[:, s: s + chunk], block_size=min(chunk, 512))
        out.append(tgt.process(x[:, s: s + chunk], block_size=min(chunk, 512)).audio)
    return np.concatenate(out, axis=1)[:, lat: lat + n]


def match_main(argv: list[str] | None = None) -> int:
    import soundfile as sf

    ap = argparse.ArgumentParser(prog="bandmate match", description="Match IN's spectrum to REF's.")
    ap.add_argument("--reference", type=Path, required=True)
    ap.add_argument("input", type=Path)
    ap.add_argument("output", type=Path)
    ap.add_argument("params", nargs="*", help="Target parameters as name=value (e.g. Amount=0.8)")
    args = ap.parse_intermixed_args(argv)
    params = {}
    for kv in args.params:
        key, _, value = kv.partition("=")
        if not value:
            ap.error(f"bad parameter {kv!r} (name=value)")
        params[key] = float(value)
    x, rate = sf.read(args.input, dtype="float32", always_2d=True)
    ref, ref_rate = sf.read(args.reference, dtype="float32", always_2d=True)
    if ref_rate != rate:
        ap.error(f"reference is {ref_rate} Hz, input {rate} Hz: resample one of them first")
    if ref.shape[1] != x.shape[1]:
        ref = np.repeat(ref.mean(axis=1, keepdims=True), x.shape[1], axis=1)
    y = match_audio(ref.T, x.T, rate, params)
    sf.write(args.output, y.T, rate)
    print(f"wrote {args.output}")
    return 0
