"""``bandmate`` command line: backend, process, and the generators' commands."""

from __future__ import annotations

import argparse
import sys


def _backend(args: argparse.Namespace) -> int:
    from bandmate.server import BackendConfig, run_backend

    cfg = BackendConfig(endpoint=args.endpoint or "", session_idle_s=args.idle)
    if args.workers is not None:
        cfg.workers = args.workers
    if args.bridge_cpu is not None:
        cfg.bridge_cpu = args.bridge_cpu
    if args.inline_sessions is not None:
        cfg.inline_sessions = args.inline_sessions
    return run_backend(cfg)


def _process(args: argparse.Namespace) -> int:
    from bandmate.paths import find_plugin
    from plugin_host.render import render_file

    params = dict(kv.split("=", 1) for kv in args.params)
    plugin = find_plugin(args.plugin, "clap" if args.plugin.endswith(".clap") else "vst3")
    render_file(plugin, args.input, args.output, params, block_size=args.block_size, progress=not args.quiet)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "drums":  # the generator parses its own arguments
        from bandmate.generators.drumnet import drums_main

        return drums_main(argv[1:])
    if argv and argv[0] == "match":
        from bandmate.match import match_main

        return match_main(argv[1:])
    if argv and argv[0] == "align":
        from bandmate.align import align_main

        return align_main(argv[1:])
    if argv and argv[0] == "profile":
        from bandmate.profiles import profile_main

        return profile_main(argv[1:])
    if argv and argv[0] == "bass":
        from bandmate.generators.bassnet import bass_main

        return bass_main(argv[1:])
    parser = argparse.ArgumentParser(prog="bandmate", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    b = sub.add_parser("backend", help="run the backend (normally started by the first plugin instance)")
    b.add_argument("--endpoint", help="ZeroMQ endpoint (default: ipc socket in the runtime dir)")
    b.add_argument("--workers", type=int, help="engine worker processes (0: run engines in the main process)")
    b.add_argument("--idle", type=float, default=60.0, help="seconds before an idle session is collected")
    b.add_argument("--inline-sessions", type=int,
                   help="with workers: how many instances the main process still serves itself (default 4)")
    b.add_argument("--bridge-cpu", help="CPU shared with the plugins' I/O threads: auto (default), off, or a number")
    b.set_defaults(func=_backend)

    p = sub.add_parser("process", help="render a WAV file through a Bandmate plugin (VST3 or CLAP)")
    p.add_argument("plugin", help="plugin name (e.g. BandmateReference) or path to a .vst3/.clap")
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument("params", nargs="*", help="parameter settings as name=value")
    p.add_argument("--block-size", type=int, default=512)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_process)

    sub.add_parser("match", help="match IN.wav's spectrum to --reference REF.wav with BandmateXSpecMatch")
    sub.add_parser("align", help="align IN.wav's delay, polarity and band phases to --reference REF.wav "
                   "with BandmateMultibandPhase (--report prints them)")
    sub.add_parser("profile", help="capture/compare Profile EQ profiles (see `bandmate profile -h`)")
    sub.add_parser("drums", help="write drum MIDI that fits IN.wav|IN.mid (see `bandmate drums -h`)")
    sub.add_parser("bass", help="write a bass line (MIDI) that fits IN.wav|IN.mid (see `bandmate bass -h`)")
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
