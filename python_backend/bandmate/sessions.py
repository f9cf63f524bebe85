"""Per-instance sessions: one engine per plugin instance, keyed by its socket identity."""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from bandmate.engines import ENGINES, EngineConfig, create_engine
from bandmate.links import LinkBoard
from bandmate.protocol import (
    ErrorCode,
    Message,
    MsgType,
    ProtocolError,
    decode,
    encode_error,
    encode_pong,
    encode_reply,
    peek_request,
)
from bandmate.specs import MIDI_EVENT_FLOATS, MIDI_EVENT_SLOTS, TRANSPORT_INPUTS, PluginSpec, load_spec

log = logging.getLogger("bandmate.backend")


@dataclass(frozen=True)
class WireTable:
    """What the per-hop path needs of a spec, precomputed once per engine name."""

    spec: PluginSpec
    ids: tuple[str, ...]  # parameters, wire order
    lo: np.ndarray
    hi: np.ndarray
    discrete: np.ndarray  # positions of bool, int and choice parameters: rounded
    outputs: tuple[tuple[str, float], ...]  # engine outputs (id, default), reply order
    # the spec's per-hop flags, read once (properties cost a few µs per hop in total)
    wire_inputs: int
    sidechain: bool
    transport: bool
    generator: bool
    aux_outputs: int

    @classmethod
    def of(cls, spec: PluginSpec) -> WireTable:
        ps = spec.params
        return cls(spec, tuple(p.id for p in ps), np.array([p.min for p in ps]), np.array([p.max for p in ps]),
                   np.flatnonzero([p.type in ("bool", "int", "choice") for p in ps]),
                   tuple((p.id, p.default) for p in spec.engine_outputs),
                   spec.wire_inputs, spec.sidechain, spec.transport, spec.generator, spec.aux_outputs)

    def params(self, values: np.ndarray) -> dict[str, float]:
        """Request values -> {id: clamped value}, as PluginSpec.values_from_list, vectorised."""
        v = np.minimum(np.maximum(values[: len(self.ids)], self.lo), self.hi)  # float64; ufuncs: no np.clip
        v[self.discrete] = np.rint(v[self.discrete])  # half to even, like round()
        return dict(zip(self.ids, v.tolist(), strict=True))


@dataclass
class Session:
    key: tuple
    engine: object
    last_seen: float = field(default_factory=time.monotonic)


class SessionTable:
    """Turns request frames into reply frames. Never raises: bad input -> error reply."""

    def __init__(self, idle_timeout: float = 60.0):
        self.idle_timeout = idle_timeout
        self.links = LinkBoard()  # shared by this process's sessions (see bandmate.links)
        self.sessions: dict[bytes, Session] = {}
        self.errors: Counter[str] = Counter()
        self.processed = 0
        # each instance's string state (CONFIGURE); kept while the backend lives (a few bytes per
        # instance), so a session re-created after idle collection gets it back
        self.strings: dict[bytes, dict[str, str]] = {}
        self.missed = 0  # realtime hops dropped unprocessed (see handle_batch)
        self._wire: dict[str, WireTable] = {}

    def handle_batch(self, batch: list[tuple[bytes, bytes]]) -> list[bytes]:
        """Replies to frames that arrived together, in order.

        A realtime request carries its drop horizon K in ``status`` (PROTOCOL.md): the shell
        plays hop ``seq`` before it sends hop ``seq + K - 1``. So when that later hop of the
        same instance is already in the batch, ``seq`` is past its deadline: it gets a cheap
        DEADLINE_MISSED error instead of being processed, and a backend that fell behind
        catches up instead of answering a backlog of replies the shell would drop.
        Deterministic requests (K = 0) are always processed."""
        if len(batch) == 1:  # the usual case: nothing queued behind it
            return [self.handle(*batch[0])]
        headers = [peek_request(frame) for _, frame in batch]
        newest: dict[tuple[bytes, int], int] = {}
        for (identity, _), h in zip(batch, headers, strict=True):
            if h is not None:
                newest[(identity, h.epoch)] = max(newest.get((identity, h.epoch), h.seq), h.seq)
        replies = []
        for (identity, frame), h in zip(batch, headers, strict=True):
            if h is not None and h.status > 0 and newest[(identity, h.epoch)] >= h.seq + h.status - 1 \
                    and self._skippable(identity):
                self.missed += 1
                replies.append(encode_error(ErrorCode.DEADLINE_MISSED, "deadline passed", h))
            else:
                replies.append(self.handle(identity, frame))
        return replies

    def _skippable(self, identity: bytes) -> bool:
        session = self.sessions.get(identity)
        return session is None or session.engine.skippable

    def handle(self, identity: bytes, frame: bytes) -> bytes:
        try:
            msg = decode(frame)
            if msg.header.type == MsgType.PING:
                if identity in self.sessions:
                    self.sessions[identity].last_seen = time.monotonic()
                return encode_pong(msg.header)
            if msg.header.type == MsgType.CONFIGURE:
                return self._configure(identity, msg)
            return self._process(identity, msg)
        except ProtocolError as e:
            self.errors[e.code.name] += 1
            return encode_error(e.code, str(e), e.header)
        except Exception as e:  # an engine bug must not take the backend down
            self.errors[ErrorCode.ENGINE_FAILED.name] += 1
            log.exception("engine failure")
            return encode_error(ErrorCode.ENGINE_FAILED, f"{type(e).__name__}: {e}", None)

    def _process(self, identity: bytes, msg: Message) -> bytes:
        h = msg.header
        if h.engine not in ENGINES:
            raise ProtocolError(ErrorCode.UNKNOWN_ENGINE, f"unknown engine {h.engine!r}", h)
        wire = self._wire.get(h.engine) or self._wire.setdefault(h.engine, WireTable.of(load_spec(h.engine)))
        if h.n_values != wire.wire_inputs:
            raise ProtocolError(
                ErrorCode.BAD_CONFIG, f"{h.engine}: {h.n_values} request values, spec has {wire.wire_inputs}", h
            )
        values = msg.values
        # one pass over the payload: a float64 sum of float32 values cannot overflow, so it is
        # finite exactly when every value is
        if not math.isfinite(msg.payload.sum(dtype=np.float64)):
            raise ProtocolError(ErrorCode.MALFORMED, "non-finite parameter or audio values", h)
        params = wire.params(values)
        audio, sidechain = msg.audio, {}
        if wire.sidechain:  # the main channels, then as many sidechain channels (PROTOCOL.md)
            if h.channels % 2:
                raise ProtocolError(ErrorCode.BAD_CONFIG, f"{h.engine}: {h.channels} channels, expected main + "
                                    "sidechain", h)
            audio, sidechain = msg.audio[: h.channels // 2], {"sidechain": msg.audio[h.channels // 2:]}
        key = (h.engine, h.sample_rate, audio.shape[0], h.frames, h.epoch)
        session = self.sessions.get(identity)
        if session is None or session.key != key:
            session = self._open(identity, key, params, h)
        session.last_seen = time.monotonic()
        if wire.transport:
            params |= dict(zip(TRANSPORT_INPUTS, values[len(wire.ids):].tolist(), strict=True))
        if wire.generator:
            out, meters, events = session.engine.process_midi(msg.audio, params)
            midi = np.zeros(1 + MIDI_EVENT_SLOTS * MIDI_EVENT_FLOATS, np.float32)
            midi[0] = len(events)
            midi[1: 1 + MIDI_EVENT_FLOATS * len(events)] = np.ravel(
                [(e.offset, e.status, e.data1, e.data2) for e in events])
        else:
            out, meters = session.engine.process(audio, params, **sidechain)
            midi = None
        out_values = np.array([meters.get(k, d) for k, d in wire.outputs], np.float32)
        if midi is not None:
            out_values = np.concatenate([out_values, midi])
        if wire.aux_outputs:  # the second output bus rides after the main channels (PROTOCOL.md)
            out = np.concatenate([out, session.engine.aux])
        self.processed += 1
        return encode_reply(h, out_values, out)

    def _configure(self, identity: bytes, msg: Message) -> bytes:
        self.strings[identity] = dict(msg.strings or {})
        session = self.sessions.get(identity)
        if session is not None and hasattr(session.engine, "configure"):
            session.engine.configure(self.strings[identity])
        return encode_pong(msg.header)

    def _open(self, identity: bytes, key: tuple, params: dict, h) -> Session:
        engine_name, rate, channels, frames, _ = key
        try:
            engine = create_engine(engine_name, EngineConfig(rate, channels, activation_params=params,
                                                             links=self.links, identity=identity))
        except ValueError as e:
            raise ProtocolError(ErrorCode.BAD_CONFIG, str(e), h) from None
        if engine.hop != frames:
            raise ProtocolError(ErrorCode.BAD_CONFIG, f"{engine_name}: hop {frames}, engine expects {engine.hop}", h)
        if identity in self.strings and hasattr(engine, "configure"):
            engine.configure(self.strings[identity])
        session = Session(key, engine)
        self.sessions[identity] = session
        log.info("session %s: %s %d Hz %d ch hop %d", identity.hex()[:8], engine_name, rate, channels, frames)
        return session

    def collect_idle(self) -> int:
        now = time.monotonic()
        stale = [k for k, s in self.sessions.items() if now - s.last_seen > self.idle_timeout]
        for k in stale:
            del self.sessions[k]
            self.links.withdraw(k)
        return len(stale)
