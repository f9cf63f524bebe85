"""BassNet's audition: the generated MIDI rendered through a GM soundfont (bandmate.audition),
sample-accurate with the note-ons, at the fundamental of each note, on the plugin's second output
bus ("Audition output") or mixed into its main output; off: the input passes untouched."""

from __future__ import annotations

import numpy as np
import pytest
from bandmate.audition import Auditioner
from bandmate.engines import EngineConfig, create_engine
from bandmate.generators.bassnet import program_for_timbre

import plugin_host as ph
from tests.test_bassnet_plugin import RATE, SPEC, TEMPO, chords, plugin
from tests.test_drumnet_plugin import notes


def run_engine(x: np.ndarray, params: dict) -> tuple[np.ndarray, np.ndarray, list]:
    """BassNet's engine over x with the transport rolling from bar 1: (output, audition audio,
    MIDI events)."""
    eng = create_engine("bassnet", EngineConfig(RATE, 2))
    p = eng.spec.defaults() | params
    out, aux, events, hop = [], [], [], eng.hop
    for j in range(x.shape[1] // hop):
        beat = j * hop / RATE * TEMPO / 60
        tp = {"playing": 1.0, "bar": beat // 4, "beat": beat % 4, "tempo_bpm": TEMPO, "beats_per_bar": 4.0}
        y, _, ev = eng.process_midi(x[:, j * hop:(j + 1) * hop], p | tp)
        out.append(y)
        aux.append(eng.aux.copy())
        events += [(j * hop + e.offset, e.status, e.data1, e.data2) for e in ev]
    return np.concatenate(out, 1), np.concatenate(aux, 1), events


def magnitude(seg: np.ndarray, f: float) -> float:
    t = np.arange(len(seg)) / RATE
    return float(abs((seg * np.hanning(len(seg)) * np.exp(-2j * np.pi * f * t)).sum()))


def assert_notes_sound(aux: np.ndarray, events: list) -> None:
    """Every note of 0.1 s or more has energy at its fundamental, well above the bass range's median."""
    ons = [e for e in events if e[1] & 0xF0 == 0x90]
    ends = {}
    for s, status, note, _ in events:
        if status & 0xF0 == 0x80:
            ends.setdefault(note, []).append(s)
    checked = 0
    for s, _, note, _ in ons:
        e = min(t for t in ends[note] if t > s)
        if e - s < 4800:  # at least 0.1 s for a frequency estimate
            continue
        seg = aux[0, s:e]
        f0 = 440.0 * 2 ** ((note - 69) / 12)
        background = np.median([magnitude(seg, f) for f in np.linspace(30, 400, 60)])
        assert magnitude(seg, f0) > 10 * background, f"note {note} at {s}: no energy at {f0:.1f} Hz"
        checked += 1
    assert checked >= 8


def test_engine_audition_plays_each_note_at_its_fundamental_in_time_with_the_midi():
    x = chords(8.0)
    n = x.shape[1] // 1024 * 1024
    level = {"timbre": 0.5, "audition_gain_db": -6.0}
    out, aux, events = run_engine(x, {"audition": 1.0} | level)  # on the audition bus
    mixed, silent_bus, events_mixed = run_engine(x, {"audition": 2.0} | level)  # mixed into main
    dry, quiet, plain = run_engine(x, {"audition": 0.0, "timbre": 0.5})
    assert events == plain == events_mixed, "audition does not change the MIDI"
    assert not quiet.any() and not silent_bus.any(), "off or mixed into main: the bus is silent"
    np.testing.assert_array_equal(dry, x[:, :n])  # off: the input passes untouched
    np.testing.assert_array_equal(out, x[:, :n])  # on its own bus: the main output is the input
    np.testing.assert_allclose(mixed, x[:, :n] + aux, atol=1e-6)  # or mixed in
    # at its level, sample-accurate: the same as rendering the whole event list in one go
    ref = Auditioner(RATE, program_for_timbre(0.5)).render(aux.shape[1], events)
    np.testing.assert_allclose(aux, 10 ** (-6 / 20) * ref, atol=1e-7)
    assert_notes_sound(aux, events)


@pytest.mark.parametrize("mode", ["Audition output", "Mixed into main"])
def test_plugin_audition_in_time_with_its_midi_and_off_is_passthrough(mode):
    x = chords(8.0)
    lat = SPEC.plugin_latency(RATE, 512)
    on, off = plugin(Audition=mode), plugin()
    assert [p.name for p in on.audio_outputs] == ["Audio Output", "Audition"]
    r_on = on.process(x, block_size=512, transport=ph.Transport(tempo=TEMPO, playing=True))
    r_off = off.process(x, block_size=512, transport=ph.Transport(tempo=TEMPO, playing=True))
    np.testing.assert_array_equal(r_off.audio[:, lat:], x[:, :-lat])  # off: passthrough, nothing added
    np.testing.assert_array_equal(r_off.aux_audio[0], 0.0)  # and a silent audition bus
    assert [e.data for e in r_on.midi_out] == [e.data for e in r_off.midi_out]
    if mode == "Audition output":  # the main output stays the input; the bass is on the second bus
        np.testing.assert_array_equal(r_on.audio[:, lat:], x[:, :-lat])
        bass = r_on.aux_audio[0][:, lat:]
    else:
        np.testing.assert_array_equal(r_on.aux_audio[0], 0.0)
        bass = r_on.audio[:, lat:] - x[:, :-lat]  # latency-aligned audition signal
    events = [(m[0], *m[1:]) for m in notes(r_on.midi_out, lat) if m[0] < bass.shape[1]]
    # the MIDI it sent, rendered at its sample offsets (an Auditioner starts a note on its sample)
    ref = Auditioner(RATE, program_for_timbre(0.5)).render(bass.shape[1], events)
    np.testing.assert_allclose(bass, ref, atol=1e-5)
    assert_notes_sound(bass, events)


def test_auditioner_starts_at_the_note_on_sample_and_stops():
    for rate in (48000, 192000):  # above 96 kHz fluidsynth runs at half rate, samples held
        a = Auditioner(rate, program=33)
        out = a.render(1024, [(500, 0x90, 40, 100)])
        assert not out[:, :500].any() and np.abs(out[:, 500:]).max() > 0
        a.render(4096, [(0, 0x80, 40, 0)])
        tail = np.concatenate([a.render(1024) for _ in range(rate // 1024)], 1)
        assert np.abs(tail[:, -1024:]).max() < 1e-4, "released"


def test_auditioner_bad_input():
    with pytest.raises(ValueError, match="GM program"):
        Auditioner(48000, program=128)
    with pytest.raises(ValueError, match="sample rate"):
        Auditioner(1000)
    with pytest.raises(FileNotFoundError, match="soundfont"):
        Auditioner(48000, soundfont="/nonexistent.sf2")
