"""The README's main job: real music through Bandmate plugins in pedalboard.

    python -m bandmate.demo OUT_DIR

1. renders 20 s of a human-composed song (Debian's openttd-openmsx MIDI) with fluidsynth;
2. starts the backend (plugins would start it themselves; here it is explicit);
3. processes the file through BandmateResonanceEQ (amount -0.6) and BandmateReference
   in pedalboard, deterministic mode, and writes the results;
4. writes drum MIDI from the audio with `bandmate drums` (drums.mid), and plays the song
   through the BandmateDrumNet CLAP in our own host with the transport rolling, writing the
   plugin's live MIDI output (drumnet_plugin.mid) and pressing its Capture button;
5. writes a bass line locked to those drums with `bandmate bass --drums` (bass.mid);
6. matches the song's tone to another song with `bandmate match` (XSpecMatch, two linked
   instances), and aligns a delayed, inverted copy of it with `bandmate align --report`
   (Multiband Phase);
7. compares the song with the built-in "Warm" profile (`bandmate profile compare`, profile.png)
   and renders it through BandmateProfileEQ in pedalboard (default profile "Pink").
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from bandmate.data.render import fluidsynth_render_stereo
from bandmate.data.sources import OPENMSX_DIR, SOUNDFONTS
from bandmate.paths import find_plugin

SONG = OPENMSX_DIR / "boogi_marabi_redfarn.mid"
REFERENCE_SONG = SONG.with_name("be_sharp_bw_redfarn.mid")  # the tone XSpecMatch matches toward
SOUNDFONT = SOUNDFONTS["FluidR3_GM"]
RATE = 48000


def render_song(out: Path, seconds: float = 20.0, song: Path = SONG, name: str = "input") -> Path:
    wav = out / f"{name}.wav"
    if not wav.exists():
        for need in (song, SOUNDFONT):
            if not need.exists():
                raise SystemExit(f"missing {need}: run scripts/setup.sh (needs openttd-openmsx, fluid-soundfont-gm)")
        audio, rate = fluidsynth_render_stereo(song.read_bytes(), SOUNDFONT, RATE, gain=0.5)
        sf.write(wav, audio.T[: int(seconds * rate)], rate)
    return wav


def start_backend() -> None:
    subprocess.Popen(
        [sys.executable, "-m", "bandmate", "backend"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True,
    )
    time.sleep(1.0)


def process(name: str, wav: Path, out: Path, **params) -> Path:
    import pedalboard

    plugin = pedalboard.load_plugin(str(find_plugin(name)))
    plugin.deterministic = True  # offline render: wait for the backend, exact output
    for key, value in params.items():
        setattr(plugin, key, value)
    audio, rate = sf.read(wav, dtype="float32", always_2d=True)
    t0 = time.monotonic()
    result = plugin(audio.T, rate, buffer_size=512)
    took = time.monotonic() - t0
    dest = out / f"{wav.stem}.{name}.wav"
    sf.write(dest, result.T, rate)
    diff = float(np.sqrt(np.mean((result - audio.T) ** 2)))
    print(f"{name}: {dest} ({audio.shape[0] / rate / took:.1f}x real time, rms change {diff:.4f})")
    return dest


def main(argv: list[str]) -> int:
    out = Path(argv[1] if len(argv) > 1 else "out")
    out.mkdir(parents=True, exist_ok=True)
    wav = render_song(out)
    print(f"input: {wav}")
    start_backend()
    process("BandmateResonanceEQ", wav, out, amount=-0.6)
    process("BandmateReference", wav, out, gain_db=-3.0)
    try:
        from bandmate.generators.drumnet import drums_main
    except ImportError:
        print("DrumNet not available: no MIDI written")
        return 0
    midi = out / "drums.mid"
    drums_main([str(wav), "--bpm", "120", "--bars", "8", "-o", str(midi)])
    print(f"drums: {midi}")
    play_drumnet(wav, out)
    from bandmate.generators.bassnet import bass_main

    bass_main([str(wav), "--bpm", "120", "--bars", "8", "--drums", str(midi), "-o", str(out / "bass.mid")])
    print(f"bass (locked to drums.mid): {out / 'bass.mid'}")
    link_tools(wav, out)
    from bandmate.profiles import profile_main

    profile_main(["compare", str(wav), "--profile", "Warm", "--plot", str(out / "profile.png")])
    process("BandmateProfileEQ", wav, out)
    return 0


def link_tools(wav: Path, out: Path) -> None:
    """XSpecMatch and Multiband Phase through their CLIs (two linked plugin instances each)."""
    from bandmate.align import align_main
    from bandmate.match import match_main

    reference = render_song(out, song=REFERENCE_SONG, name="reference")
    match_main(["--reference", str(reference), str(wav), str(out / "input.matched.wav")])
    audio, rate = sf.read(wav, dtype="float32", always_2d=True)
    mic2 = -np.concatenate([np.zeros((37, audio.shape[1]), np.float32), audio[:-37]])  # 0.77 ms late, inverted
    sf.write(out / "mic2.wav", mic2, rate)
    align_main(["--reference", str(wav), str(out / "mic2.wav"), str(out / "mic2.aligned.wav"), "--report"])


def play_drumnet(wav: Path, out: Path, bpm: float = 120.0) -> Path:
    """The DrumNet plugin as a DAW runs it: transport playing, MIDI out recorded."""
    import plugin_host as ph
    from bandmate.data.midi import MidiFile, tempo_event, write_midi

    audio, rate = sf.read(wav, dtype="float32", always_2d=True)
    p = ph.ClapPlugin(str(find_plugin("BandmateDrumNet", "clap")))
    p.set_param("Deterministic", 1.0)
    p.set_param("Fill every", 4)
    assert p.activate(rate, max_block=512), "BandmateDrumNet refused to activate"
    r = p.process(audio.T, block_size=512, transport=ph.Transport(tempo=bpm, playing=True))
    p.set_param("Capture", 1.0)  # writes the last 8 bars to $XDG_MUSIC_DIR/Bandmate
    p.process(np.zeros((2, 4096), np.float32), transport=ph.Transport(tempo=bpm, playing=False))
    ticks_per_sample = 480 * bpm / 60.0 / rate
    events = [tempo_event(0, bpm)] + [(round(max(0, e.offset - p.latency) * ticks_per_sample), bytes(e.data))
                                      for e in r.midi_out]
    dest = out / "drumnet_plugin.mid"
    write_midi(MidiFile(480, [events]), dest)
    notes = sum(1 for e in r.midi_out if e.is_note_on)
    print(f"BandmateDrumNet (CLAP, our host): {notes} drum notes -> {dest}; "
          f"captures written: {p.output_params['Captures written']:.0f}")
    return dest


if __name__ == "__main__":
    os.environ.setdefault("BANDMATE_BACKEND_CMD", f"{sys.executable} -m bandmate backend")
    shutil.which("fluidsynth") or sys.exit("fluidsynth is not installed: run scripts/setup.sh")
    sys.exit(main(sys.argv))
