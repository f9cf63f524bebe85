"""Two linked instances of a real Bandmate plugin rendered offline, as a DAW plays two tracks:
a Reference instance on REF and a Target instance on IN, same Link group, CLAP in our host,
deterministic, processed in interleaved chunks. Shared by ``bandmate match`` (XSpecMatch)
and ``bandmate align`` (Multiband Phase)."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def render_linked(plugin_name: str, reference: np.ndarray, audio: np.ndarray, rate: int,
                  params: dict[str, float] | None = None, group: int = 16, chunk: int = 4096,
                  plugin: str | Path | None = None, transport: bool = False,
                  ) -> tuple[np.ndarray, dict[str, float]]:
    """(channels, n) float32 in -> (Target output (channels, n), latency-compensated; the Target's
    output parameters by name). ``params`` go to the Target. ``transport``: both instances see a
    rolling host transport from the start (else none: they count their own samples). Mono files
    run through the stereo build as two equal channels."""
    import plugin_host as ph
    from bandmate.paths import find_plugin

    path = str(plugin or find_plugin(plugin_name, "clap"))
    ref, tgt = ph.ClapPlugin(path), ph.ClapPlugin(path)
    for p, role in ((ref, "Reference"), (tgt, "Target")):
        p.set_param("Deterministic", 1.0)
        p.set_param("Link group", group)
        p.set_param("Role", role)
    for key, value in (params or {}).items():
        tgt.set_param(key, value)
    for p in (ref, tgt):
        if not p.activate(rate, max_block=chunk):
            raise ValueError(f"{plugin_name} refused {rate} Hz")
    lat = tgt.latency
    channels = audio.shape[0]
    audio, reference = (np.repeat(z[:1], 2, axis=0) if z.shape[0] == 1 else z for z in (audio, reference))
    n = audio.shape[1]
    x = np.concatenate([audio, np.zeros((audio.shape[0], lat), np.float32)], axis=1)
    r = np.zeros((reference.shape[0], x.shape[1]), np.float32)
    r[:, : min(reference.shape[1], x.shape[1])] = reference[:, : x.shape[1]]
    out = []
    rolling = ph.Transport(playing=True) if transport else None
    for s in range(0, x.shape[1], chunk):
        start = rolling if s == 0 else None  # set once; the host's transport then advances
        ref.process(r[:, s: s + chunk], block_size=min(chunk, 512), transport=start)
        out.append(tgt.process(x[:, s: s + chunk], block_size=min(chunk, 512), transport=start).audio)
    return np.concatenate(out, axis=1)[:channels, lat: lat + n], tgt.output_params


def parse_params(ap: argparse.ArgumentParser, pairs: list[str]) -> dict[str, float]:
    """``name=value`` arguments -> {name: value} (ap.error on a malformed one)."""
    params = {}
    for kv in pairs:
        key, _, value = kv.partition("=")
        try:
            params[key] = float(value)
        except ValueError:
            ap.error(f"bad parameter {kv!r} (name=value, value a number)")
    return params


def read_pair(ap: argparse.ArgumentParser, input_path: Path, reference_path: Path
              ) -> tuple[np.ndarray, np.ndarray, int]:
    """(input (channels, n), reference (channels, m), rate): both files at the same rate; a
    reference with another channel count is mixed down and spread to the input's."""
    import soundfile as sf

    for path in (input_path, reference_path):
        if not path.exists():
            raise FileNotFoundError(f"no such file: {path}")
    x, rate = sf.read(input_path, dtype="float32", always_2d=True)
    ref, ref_rate = sf.read(reference_path, dtype="float32", always_2d=True)
    if ref_rate != rate:
        ap.error(f"reference is {ref_rate} Hz, input {rate} Hz: resample one of them first")
    if ref.shape[1] != x.shape[1]:
        ref = np.repeat(ref.mean(axis=1, keepdims=True), x.shape[1], axis=1)
    return x.T, ref.T, rate
