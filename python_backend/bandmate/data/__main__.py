"""CLI: python -m bandmate.data build|bass [--out data_cache] [--seed 0] [--limit N] [--jobs 2]
     python -m bandmate.data resonance [--out data_cache/resonance] [--clips 240] [--start 0] [--no-solo]
                                      [--soundfont FluidR3_GM]

``build`` makes the DrumNet cache, ``bass`` the BassNet cache (bandmate.data.bass) in the same folder,
``resonance`` the clips of ResonanceEQ's learned detector (bandmate.data.resonance)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bandmate.data.build import build


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bandmate.data")
    sub = ap.add_subparsers(dest="cmd", required=True)
    for cmd, what in (("build", "DrumNet"), ("bass", "BassNet")):
        b = sub.add_parser(cmd, help=f"render and featurise the {what} dataset")
        b.add_argument("--out", type=Path, default=Path("data_cache"))
        b.add_argument("--seed", type=int, default=0)
        b.add_argument("--limit", type=int, default=None, help="at most N MMA grooves and N real songs (quick tests)")
        b.add_argument("--jobs", type=int, default=2, help="parallel mma/fluidsynth processes")
    r = sub.add_parser("resonance", help="render the ResonanceEQ detector clips")
    r.add_argument("--out", type=Path, default=Path("data_cache/resonance"))
    r.add_argument("--clips", type=int, default=240)
    r.add_argument("--start", type=int, default=0, help="first clip index (run two processes on halves)")
    r.add_argument("--no-solo", action="store_true", help="grooves only, no solo line or pad")
    r.add_argument("--soundfont", default="MuseScore_General", help="FluidR3_GM or MuseScore_General")
    args = ap.parse_args(argv)
    if args.cmd == "resonance":
        from bandmate.data.resonance import build_resonance

        count = build_resonance(args.out, args.clips, args.start, not args.no_solo, args.soundfont)
        print(f"{count} clips in {args.out}")
        return 0
    if args.cmd == "bass":
        from bandmate.data.bass import build_bass

        man = build_bass(args.out, args.seed, args.limit, args.jobs)
    else:
        man = build(args.out, args.seed, args.limit, args.jobs)
    print(f"{len(man['songs'])} songs ({len(man['skipped'])} skipped) in {man['build_seconds']} s -> {args.out}")
    for split, c in man["counts"].items():
        print(f"  {split:5s} bars: " + ", ".join(f"{k} {v}" for k, v in c.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
