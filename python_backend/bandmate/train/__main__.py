"""python -m bandmate.train drumnet|bassnet|resonance [options]"""

from __future__ import annotations

import sys

MODELS = ("drumnet", "bassnet", "resonance")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in MODELS:
        print("usage: python -m bandmate.train drumnet|bassnet [--data data_cache] [--out onnx_models/NAME.onnx]"
              " [--epochs N]\n       python -m bandmate.train resonance [--data data_cache/resonance] [--steps N]")
        return 2
    if argv[0] == "resonance":
        from bandmate.train.resonance import main as resonance_main

        return resonance_main(argv[1:])
    if argv[0] == "bassnet":
        from bandmate.train.bassnet import main as bassnet_main

        return bassnet_main(argv[1:])
    from bandmate.train.drumnet import main as drumnet_main

    return drumnet_main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
