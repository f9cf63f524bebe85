"""Wire protocol v2 between plugin shells and the backend (see PROTOCOL.md).

Every message is one ZeroMQ frame: a 48-byte little-endian header, then ``n_values``
float32, then ``channels * frames`` float32 audio, planar. No pickle, no JSON on the
audio path. ``decode`` validates everything and raises ``ProtocolError`` with a code.
"""

from __future__ import annotations

import struct
from enum import IntEnum
from typing import NamedTuple

import numpy as np

MAGIC = 0x45544D42  # b"BMTE" little-endian
VERSION = 2
HEADER = struct.Struct("<IHHQIIHHHH16s")
HEADER_BYTES = HEADER.size
assert HEADER_BYTES == 48
MAX_FRAMES = 16384
MAX_CHANNELS = 4  # requests of sidechain specs: main + sidechain channels
MAX_VALUES = 1024
MAX_CONFIGURE_BYTES = 4096
MAX_MESSAGE_BYTES = HEADER_BYTES + 4 * (MAX_VALUES + MAX_CHANNELS * MAX_FRAMES)


class MsgType(IntEnum):
    PROCESS = 1
    PING = 2
    CONFIGURE = 3  # shell -> backend: the plugin's string state (answered with PONG)
    REPLY = 0x81
    PONG = 0x82
    ERROR = 0xFF


class ErrorCode(IntEnum):
    MALFORMED = 1
    BAD_VERSION = 2
    UNKNOWN_ENGINE = 3
    OVERSIZED = 4
    BAD_CONFIG = 5
    ENGINE_FAILED = 6
    UNKNOWN_TYPE = 7
    DEADLINE_MISSED = 8  # realtime hop dropped unprocessed: the shell can no longer play it


class ProtocolError(Exception):
    def __init__(self, code: ErrorCode, message: str, header: Header | None = None):
        super().__init__(message)
        self.code = code
        self.header = header


class Header(NamedTuple):  # a NamedTuple: built for every message, and cheap to build
    type: int
    seq: int
    epoch: int
    sample_rate: int = 0
    channels: int = 0
    frames: int = 0
    n_values: int = 0
    status: int = 0
    engine: str = ""

    def pack(self) -> bytes:
        return HEADER.pack(
            MAGIC, VERSION, self.type, self.seq, self.epoch, self.sample_rate, self.channels,
            self.frames, self.n_values, self.status, self.engine.encode("ascii")[:16],
        )


class Message(NamedTuple):  # a NamedTuple: built once per hop, cheaper than a dataclass
    header: Header
    values: np.ndarray  # float32 (n_values,)
    audio: np.ndarray  # float32 (channels, frames)
    strings: dict[str, str] | None = None  # CONFIGURE only
    payload: np.ndarray | None = None  # PROCESS only: values then audio, one float32 array


def _unpack_header(frame: bytes | memoryview, errors: str) -> tuple[int, int, Header]:
    """(magic, version, header) of a frame at least HEADER_BYTES long."""
    magic, version, mtype, seq, epoch, rate, ch, frames, nv, status, engine = HEADER.unpack_from(frame)
    name = engine.rstrip(b"\0").decode("ascii", errors)
    return magic, version, Header(mtype, seq, epoch, rate, ch, frames, nv, status, name)


def peek_request(frame: bytes | memoryview) -> Header | None:
    """The header of a frame that looks like a PROCESS request, without decoding the payload."""
    if len(frame) < HEADER_BYTES:
        return None
    magic, version, header = _unpack_header(frame, "replace")
    ok = magic == MAGIC and version == VERSION and header.type == MsgType.PROCESS
    return header if ok else None


def decode(frame: bytes | memoryview) -> Message:
    size = len(frame)
    if size > MAX_MESSAGE_BYTES:
        raise ProtocolError(ErrorCode.OVERSIZED, f"message of {size} bytes exceeds {MAX_MESSAGE_BYTES}")
    if size < HEADER_BYTES:
        raise ProtocolError(ErrorCode.MALFORMED, f"message of {size} bytes is shorter than the header")
    try:
        magic, version, header = _unpack_header(frame, "strict")
    except UnicodeDecodeError:
        raise ProtocolError(ErrorCode.MALFORMED, "engine name is not ASCII") from None
    if magic != MAGIC:
        raise ProtocolError(ErrorCode.MALFORMED, f"bad magic 0x{magic:08x}")
    mtype, channels, frames, n_values = header.type, header.channels, header.frames, header.n_values
    if version != VERSION:
        raise ProtocolError(ErrorCode.BAD_VERSION, f"protocol version {version}, backend speaks {VERSION}", header)
    if mtype not in (MsgType.PROCESS, MsgType.PING, MsgType.CONFIGURE):
        raise ProtocolError(ErrorCode.UNKNOWN_TYPE, f"unexpected message type {mtype}", header)
    if mtype == MsgType.PING:
        return Message(header, np.zeros(0, np.float32), np.zeros((0, 0), np.float32))
    if mtype == MsgType.CONFIGURE:
        strings = decode_strings(bytes(frame[HEADER_BYTES:]), header)
        return Message(header, np.zeros(0, np.float32), np.zeros((0, 0), np.float32), strings)
    if not 1 <= channels <= MAX_CHANNELS or not 1 <= frames <= MAX_FRAMES or n_values > MAX_VALUES:
        raise ProtocolError(
            ErrorCode.BAD_CONFIG, f"channels={channels} frames={frames} values={n_values} out of range", header
        )
    expected = HEADER_BYTES + 4 * (n_values + channels * frames)
    if size != expected:
        raise ProtocolError(ErrorCode.MALFORMED, f"{size} bytes, header announces {expected}", header)
    payload = np.frombuffer(frame, dtype="<f4", offset=HEADER_BYTES)
    values = payload[:n_values]
    audio = payload[n_values:].reshape(channels, frames)
    return Message(header, values, audio, None, payload)


def decode_strings(payload: bytes, header: Header | None = None) -> dict[str, str]:
    """CONFIGURE payload: UTF-8 ``key NUL value NUL`` pairs (at most MAX_CONFIGURE_BYTES)."""
    if len(payload) > MAX_CONFIGURE_BYTES:
        raise ProtocolError(ErrorCode.OVERSIZED, f"CONFIGURE payload of {len(payload)} bytes", header)
    try:
        parts = payload.decode("utf-8").split("\0")
    except UnicodeDecodeError:
        raise ProtocolError(ErrorCode.MALFORMED, "CONFIGURE payload is not UTF-8", header) from None
    if parts[-1] != "" or len(parts) % 2 != 1 or any(not k for k in parts[:-1:2]):
        raise ProtocolError(ErrorCode.MALFORMED, "CONFIGURE payload is not key/value pairs", header)
    return dict(zip(parts[:-1:2], parts[1::2], strict=True))


def encode_configure(engine: str, strings: dict[str, str]) -> bytes:
    """What a shell's I/O thread sends after (re)connecting and when its string state changes."""
    payload = b"".join(k.encode() + b"\0" + v.encode() + b"\0" for k, v in strings.items())
    return Header(MsgType.CONFIGURE, 0, 0, engine=engine).pack() + payload


def encode_reply(request: Header, values: np.ndarray, audio: np.ndarray) -> bytes:
    audio = np.ascontiguousarray(audio, dtype="<f4")
    values = np.ascontiguousarray(values, dtype="<f4")
    h = Header(
        MsgType.REPLY, request.seq, request.epoch, request.sample_rate, audio.shape[0], audio.shape[1],
        values.size, 0, request.engine,
    )
    return b"".join((h.pack(), values.tobytes(), audio.tobytes()))


def encode_pong(request: Header) -> bytes:
    return Header(MsgType.PONG, request.seq, request.epoch, engine=request.engine).pack()


def encode_error(code: ErrorCode, message: str, request: Header | None = None) -> bytes:
    r = request or Header(0, 0, 0)
    h = Header(MsgType.ERROR, r.seq, r.epoch, r.sample_rate, r.channels, r.frames, 0, int(code), r.engine)
    return h.pack() + message.encode("utf-8", "replace")[:1024]


def encode_request(
    seq: int, epoch: int, engine: str, sample_rate: int, values: np.ndarray, audio: np.ndarray, type: int = 1,
    horizon: int = 0,
) -> bytes:
    """What a plugin shell sends; used by tests, benches and the Python link client.
    ``horizon`` > 0 (realtime): the backend may drop this hop once hop seq + horizon - 1 arrived."""
    audio = np.ascontiguousarray(audio, dtype="<f4")
    values = np.ascontiguousarray(values, dtype="<f4")
    h = Header(type, seq, epoch, sample_rate, audio.shape[0], audio.shape[1], values.size, horizon, engine)
    return h.pack() + values.tobytes() + audio.tobytes()


def decode_reply(frame: bytes) -> tuple[Header, np.ndarray, np.ndarray | str]:
    """Client side: (header, output values, audio) or (header, empty, error text)."""
    _, _, h = _unpack_header(frame, "replace")
    ch, frames, nv = h.channels, h.frames, h.n_values
    if h.type == MsgType.ERROR:
        return h, np.zeros(0, np.float32), bytes(frame[HEADER_BYTES:]).decode("utf-8", "replace")
    payload = np.frombuffer(frame, dtype="<f4", offset=HEADER_BYTES)
    return h, payload[:nv], payload[nv:].reshape(ch, frames) if ch else np.zeros((0, 0), np.float32)
