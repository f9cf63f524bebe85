"""A small Standard MIDI File reader/writer (SMF type 0 and 1), no dependencies.

Events are kept raw: ``(tick, message_bytes)`` with absolute ticks, where the bytes are
the full channel message (status + data), a meta event as ``FF type data`` (no length)
or a sysex as ``F0 data``. That makes read/write round trips exact up to running status
and delta encoding.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

Event = tuple[int, bytes]
_DATA_LEN = {0x80: 2, 0x90: 2, 0xA0: 2, 0xB0: 2, 0xC0: 1, 0xD0: 1, 0xE0: 2}


@dataclass
class Note:
    start: int  # ticks
    end: int
    channel: int  # 0..15 (9 = GM drums)
    pitch: int
    velocity: int
    track: int


@dataclass
class MidiFile:
    tpb: int = 480
    tracks: list[list[Event]] = field(default_factory=list)

    # ------------------------------------------------------------------ queries
    def meta(self, mtype: int) -> list[tuple[int, bytes]]:
        out = [(t, m[2:]) for tr in self.tracks for t, m in tr if m[0] == 0xFF and m[1] == mtype]
        return sorted(out, key=lambda e: e[0])

    def tempo_map(self) -> list[tuple[int, int]]:
        """[(tick, microseconds per beat)], starting at tick 0 (default 500000)."""
        tm = [(t, int.from_bytes(d[:3], "big")) for t, d in self.meta(0x51) if len(d) >= 3]
        if not tm or tm[0][0] > 0:
            tm.insert(0, (0, 500000))
        return tm

    def time_signatures(self) -> list[tuple[int, int, int]]:
        """[(tick, numerator, denominator)], starting at tick 0 (default 4/4)."""
        ts = [(t, d[0], 2 ** d[1]) for t, d in self.meta(0x58) if len(d) >= 2]
        if not ts or ts[0][0] > 0:
            ts.insert(0, (0, 4, 4))
        return ts

    def track_name(self, i: int) -> str:
        for _, m in self.tracks[i]:
            if m[0] == 0xFF and m[1] == 0x03:
                return m[2:].decode("latin-1")
        return ""

    def ticks_to_seconds(self, ticks) -> np.ndarray:
        ticks = np.asarray(ticks, dtype=np.float64)
        tm = self.tempo_map()
        # seconds at each tempo change
        starts = np.array([t for t, _ in tm], dtype=np.float64)
        spt = np.array([us / 1e6 / self.tpb for _, us in tm])
        secs = np.concatenate([[0.0], np.cumsum(np.diff(starts) * spt[:-1])])
        idx = np.clip(np.searchsorted(starts, ticks, side="right") - 1, 0, len(tm) - 1)
        return secs[idx] + (ticks - starts[idx]) * spt[idx]

    def end_tick(self) -> int:
        return max((tr[-1][0] for tr in self.tracks if tr), default=0)

    def notes(self) -> list[Note]:
        """All notes (note-on with velocity 0 counts as note-off; unmatched notes end at track end)."""
        out: list[Note] = []
        for ti, tr in enumerate(self.tracks):
            active: dict[tuple[int, int], list[tuple[int, int]]] = {}
            for t, m in tr:
                kind = m[0] & 0xF0
                if kind not in (0x80, 0x90) or len(m) < 3:
                    continue
                key = (m[0] & 0x0F, m[1])
                if kind == 0x90 and m[2] > 0:
                    active.setdefault(key, []).append((t, m[2]))
                elif active.get(key):
                    s, v = active[key].pop(0)
                    out.append(Note(s, t, key[0], key[1], v, ti))
            end = tr[-1][0] if tr else 0
            for (ch, p), lst in active.items():
                out.extend(Note(s, max(end, s + 1), ch, p, v, ti) for s, v in lst)
        out.sort(key=lambda n: (n.start, n.channel, n.pitch))
        return out


# ---------------------------------------------------------------------- reading
def _varlen(buf: bytes, pos: int) -> tuple[int, int]:
    value = 0
    for _ in range(4):
        b = buf[pos]
        pos += 1
        value = (value << 7) | (b & 0x7F)
        if not b & 0x80:
            return value, pos
    raise ValueError("bad variable-length quantity")


def _parse_track(buf: bytes) -> list[Event]:
    events: list[Event] = []
    pos, tick, status = 0, 0, 0
    while pos < len(buf):
        delta, pos = _varlen(buf, pos)
        tick += delta
        b = buf[pos]
        if b == 0xFF:
            mtype = buf[pos + 1]
            length, pos = _varlen(buf, pos + 2)
            events.append((tick, bytes([0xFF, mtype]) + buf[pos : pos + length]))
            pos += length
            if mtype == 0x2F:
                break
        elif b in (0xF0, 0xF7):
            length, pos = _varlen(buf, pos + 1)
            events.append((tick, bytes([b]) + buf[pos : pos + length]))
            pos += length
        else:
            if b & 0x80:
                status = b
                pos += 1
            elif not status:
                raise ValueError("running status without a status byte")
            n = _DATA_LEN.get(status & 0xF0, 0)
            events.append((tick, bytes([status]) + buf[pos : pos + n]))
            pos += n
    return events


def read_midi(src: str | Path | bytes) -> MidiFile:
    data = src if isinstance(src, bytes | bytearray) else Path(src).read_bytes()
    start = data.find(b"MThd")  # tolerate RIFF wrappers / junk before the header
    if start < 0:
        raise ValueError("not a Standard MIDI File (no MThd)")
    hlen, fmt, ntrk, division = struct.unpack(">IHHH", data[start + 4 : start + 14])
    if fmt not in (0, 1):
        raise ValueError(f"SMF type {fmt} not supported")
    if division & 0x8000:
        raise ValueError("SMPTE time division not supported")
    pos, tracks = start + 8 + hlen, []
    while len(tracks) < ntrk and pos + 8 <= len(data):
        cid, clen = struct.unpack(">4sI", data[pos : pos + 8])
        chunk = data[pos + 8 : pos + 8 + clen]
        pos += 8 + clen
        if cid == b"MTrk":
            tracks.append(_parse_track(chunk))
    return MidiFile(division, tracks)


# ---------------------------------------------------------------------- writing
def _enc_varlen(v: int) -> bytes:
    out = [v & 0x7F]
    v >>= 7
    while v:
        out.append(0x80 | (v & 0x7F))
        v >>= 7
    return bytes(reversed(out))


def _order(msg: bytes) -> int:
    # at equal ticks: meta first, then note-offs, then everything else, then note-ons
    kind = msg[0] & 0xF0
    if msg[0] == 0xFF:
        return 0
    if kind == 0x80 or (kind == 0x90 and len(msg) > 2 and msg[2] == 0):
        return 1
    return 3 if kind == 0x90 else 2


def write_midi(midi: MidiFile, path: str | Path | None = None) -> bytes:
    """Encode (type 0 for one track, else type 1); events are sorted stably. Returns the bytes."""
    chunks = []
    for tr in midi.tracks:
        evs = sorted((e for e in tr if not (e[1][0] == 0xFF and e[1][1] == 0x2F)), key=lambda e: (e[0], _order(e[1])))
        end = max([e[0] for e in tr], default=0)
        body, last = bytearray(), 0
        for t, m in evs:
            body += _enc_varlen(int(t) - last)
            last = int(t)
            if m[0] == 0xFF:
                body += m[:2] + _enc_varlen(len(m) - 2) + m[2:]
            elif m[0] in (0xF0, 0xF7):
                body += m[:1] + _enc_varlen(len(m) - 1) + m[1:]
            else:
                body += m
        body += _enc_varlen(end - last) + b"\xff\x2f\x00"
        chunks.append(b"MTrk" + struct.pack(">I", len(body)) + bytes(body))
    fmt = 0 if len(midi.tracks) == 1 else 1
    out = b"MThd" + struct.pack(">IHHH", 6, fmt, len(midi.tracks), midi.tpb) + b"".join(chunks)
    if path is not None:
        Path(path).write_bytes(out)
    return out


def tempo_event(tick: int, bpm: float) -> Event:
    return tick, b"\xff\x51" + int(round(60e6 / bpm)).to_bytes(3, "big")


def timesig_event(tick: int, num: int = 4, den: int = 4) -> Event:
    return tick, bytes([0xFF, 0x58, num, int(np.log2(den)), 24, 8])


def note_events(tick: int, dur: int, channel: int, pitch: int, velocity: int) -> list[Event]:
    """A note-on and its (always present) note-off."""
    ch = channel & 0x0F
    on = bytes([0x90 | ch, pitch, max(1, min(127, velocity))])
    return [(tick, on), (tick + max(1, dur), bytes([0x80 | ch, pitch, 0]))]
