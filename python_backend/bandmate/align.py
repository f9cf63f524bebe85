"""``bandmate align --reference REF.wav IN.wav OUT.wav [--report] [name=value ...]``: a Reference
and a Target instance of the real BandmateMultibandPhase plugin (CLAP, our host, deterministic),
linked through the backend, rendered in interleaved chunks as a DAW plays two tracks; the Target
(IN) comes out delayed, polarity-corrected and phase-rotated per band to sum well with REF."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from bandmate.linked_render import parse_params, read_pair, render_linked

PHASE_NAMES = ("Phase 63 Hz", "Phase 125 Hz", "Phase 250 Hz", "Phase 500 Hz", "Phase 1 kHz", "Phase 2 kHz",
               "Phase 4 kHz", "Phase 8 kHz")


def align_audio(reference: np.ndarray, audio: np.ndarray, rate: int, params: dict[str, float] | None = None,
                group: int = 16, chunk: int = 4096, plugin: str | Path | None = None, transport: bool = True,
                ) -> tuple[np.ndarray, dict[str, float]]:
    """(channels, n) float32 in -> (aligned (channels, n), the Target's output parameters by name).
    ``transport``: both instances see a rolling host transport from the start, as in a DAW playing
    the two tracks (False: none; the instances then pair hops by their own sample counts)."""
    return render_linked("BandmateMultibandPhase", reference, audio, rate, params, group, chunk, plugin, transport)


def summed_energy_gain_db(reference: np.ndarray, before: np.ndarray, after: np.ndarray, rate: int,
                          ) -> tuple[float, np.ndarray, np.ndarray]:
    """Energy of reference + after vs reference + before (dB): overall, and per octave band
    (centres 63 Hz .. 8 kHz, returned as the second element)."""
    centres = 1000 * 2.0 ** np.arange(-4, 4)
    m = min(reference.shape[-1], before.shape[-1], after.shape[-1])
    a, b = (reference[..., :m] + before[..., :m]).mean(axis=0), (reference[..., :m] + after[..., :m]).mean(axis=0)
    f = np.fft.rfftfreq(m, 1 / rate)
    pa, pb = np.abs(np.fft.rfft(a)) ** 2, np.abs(np.fft.rfft(b)) ** 2
    bands = np.array([10 * np.log10(max(pb[(f >= c / 2**0.5) & (f < c * 2**0.5)].sum(), 1e-30)
                                    / max(pa[(f >= c / 2**0.5) & (f < c * 2**0.5)].sum(), 1e-30)) for c in centres])
    return float(10 * np.log10(max(pb.sum(), 1e-30) / max(pa.sum(), 1e-30))), centres, bands


def format_report(meters: dict[str, float], gain_db: float, centres: np.ndarray, bands: np.ndarray) -> str:
    lines = [
        f"delay: {meters['Delay']:+.3f} ms (+ = input late vs reference)",
        f"polarity: {'inverted' if meters['Polarity inverted'] >= 0.5 else 'normal'}",
        f"correlation: {meters['Correlation before']:+.3f} before, {meters['Correlation after']:+.3f} after",
        "band phase correction (deg): " + ", ".join(
            f"{name.removeprefix('Phase ')} {meters[name]:+.0f}" for name in PHASE_NAMES),
        f"summed energy (reference + output vs reference + input): {gain_db:+.2f} dB; per octave: " + ", ".join(
            f"{c:.0f} Hz {g:+.1f}" for c, g in zip(centres, bands, strict=True)),
    ]
    return "\n".join(lines)


def align_main(argv: list[str] | None = None) -> int:
    import soundfile as sf

    ap = argparse.ArgumentParser(prog="bandmate align",
                                 description="Align IN's delay, polarity and band phases to REF's (Multiband Phase).")
    ap.add_argument("--reference", type=Path, required=True)
    ap.add_argument("--report", action="store_true", help="print delay, polarity, band phases and the sum's gain")
    ap.add_argument("input", type=Path)
    ap.add_argument("output", type=Path)
    ap.add_argument("params", nargs="*", help="Target parameters as name=value (e.g. 'Band phase=0')")
    args = ap.parse_intermixed_args(argv)
    params = parse_params(ap, args.params)
    x, ref, rate = read_pair(ap, args.input, args.reference)
    y, meters = align_audio(ref, x, rate, params)
    sf.write(args.output, y.T, rate)
    if args.report:
        gain, centres, bands = summed_energy_gain_db(ref, x, y, rate)
        print(format_report(meters, gain, centres, bands))
    print(f"wrote {args.output}")
    return 0
