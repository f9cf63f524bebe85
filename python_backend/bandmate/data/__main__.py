"""CLI: python -m bandmate.data build [--out data_cache] [--seed 0] [--limit N] [--jobs 2]"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bandmate.data.build import build


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bandmate.data")
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="render and featurise the DrumNet dataset")
    b.add_argument("--out", type=Path, default=Path("data_cache"))
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--limit", type=int, default=None, help="at most N MMA grooves and N real songs (quick tests)")
    b.add_argument("--jobs", type=int, default=2, help="parallel mma/fluidsynth processes")
    args = ap.parse_args(argv)
    man = build(args.out, args.seed, args.limit, args.jobs)
    print(f"{len(man['songs'])} songs ({len(man['skipped'])} skipped) in {man['build_seconds']} s -> {args.out}")
    for split, c in man["counts"].items():
        print(f"  {split:5s} bars: " + ", ".join(f"{k} {v}" for k, v in c.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
