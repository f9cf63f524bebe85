"""``bandmate match --reference REF.wav IN.wav OUT.wav [amount=...]``: a Reference and a
Target instance of the real BandmateXSpecMatch plugin (CLAP, our host, deterministic),
linked through the backend, rendered in interleaved chunks as a DAW would play two tracks."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from bandmate.linked_render import parse_params, read_pair, render_linked


def match_audio(reference: np.ndarray, audio: np.ndarray, rate: int, params: dict[str, float] | None = None,
                group: int = 16, chunk: int = 4096, plugin: str | Path | None = None) -> np.ndarray:
    """(channels, n) float32 in -> matched (channels, n), latency-compensated."""
    return render_linked("BandmateXSpecMatch", reference, audio, rate, params, group, chunk, plugin)[0]


def match_main(argv: list[str] | None = None) -> int:
    import soundfile as sf

    ap = argparse.ArgumentParser(prog="bandmate match", description="Match IN's spectrum to REF's.")
    ap.add_argument("--reference", type=Path, required=True)
    ap.add_argument("input", type=Path)
    ap.add_argument("output", type=Path)
    ap.add_argument("params", nargs="*", help="Target parameters as name=value (e.g. Amount=0.8)")
    args = ap.parse_intermixed_args(argv)
    params = parse_params(ap, args.params)
    x, ref, rate = read_pair(ap, args.input, args.reference)
    sf.write(args.output, match_audio(ref, x, rate, params).T, rate)
    print(f"wrote {args.output}")
    return 0
