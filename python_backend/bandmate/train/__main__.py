"""python -m bandmate.train drumnet [options]"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] != "drumnet":
        print("usage: python -m bandmate.train drumnet [--data data_cache] [--out onnx_models/drumnet.onnx]"
              " [--epochs N]")
        return 2
    from bandmate.train.drumnet import main as drumnet_main

    return drumnet_main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
