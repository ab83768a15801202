"""TWS API framing and field encoding. Pure: bytes in, field lists out, and back.

Every message is a 4-byte big-endian length and then UTF-8 fields each ended by NUL. Only the
client's opening ``API\\0`` is unframed.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

UNSET_INT = 2147483647
UNSET_DOUBLE = 1.7976931348623157e308
MAX_FRAME = 1 << 24  # a frame longer than 16 MiB is not a TWS message

MIN_VERSION = 157
MAX_VERSION = 178


class WireError(ValueError):
    """Bytes that break the protocol. ``code`` is the IB error code we answer with."""

    def __init__(self, reason: str, code: int = 321) -> None:
        self.reason = reason
        self.code = code
        super().__init__(reason)


def fmt(value: object) -> str:
    """Server → client field text: bools 0/1, unset doubles/ints as IB spells them."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        if value != value:  # NaN never goes on the wire
            return ""
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value)) if abs(value) >= 1 or value == 0 else repr(value)
        return repr(value)
    return str(value)


def frame(fields: Iterable[object]) -> bytes:
    payload = b"".join(fmt(f).encode() + b"\0" for f in fields)
    return struct.pack(">I", len(payload)) + payload


class FrameReader:
    """Incremental decoder: feed bytes, get complete messages as lists of strings."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[list[str]]:
        self._buf += data
        out: list[list[str]] = []
        while len(self._buf) >= 4:
            (size,) = struct.unpack(">I", self._buf[:4])
            if size > MAX_FRAME:
                raise WireError(f"frame of {size} bytes is larger than any TWS message")
            if len(self._buf) < 4 + size:
                break
            payload = bytes(self._buf[4 : 4 + size])
            del self._buf[: 4 + size]
            try:
                text = payload.decode()
            except UnicodeDecodeError as exc:
                raise WireError("a frame that is not UTF-8") from exc
            fields = text.split("\0")
            if fields and fields[-1] == "":
                fields.pop()
            out.append(fields)
        return out


def parse_handshake(fields: list[str]) -> int:
    """The client's ``v157..178`` (an option may follow a space) → the version we answer."""
    if not fields:
        raise WireError("empty handshake", code=502)
    text = fields[0].split(" ")[0]
    if not text.startswith("v"):
        raise WireError(f"bad handshake {fields[0]!r}", code=502)
    lo, _, hi = text[1:].partition("..")
    try:
        low = int(lo)
        high = int(hi) if hi else low
    except ValueError as exc:
        raise WireError(f"bad handshake {fields[0]!r}", code=502) from exc
    version = min(MAX_VERSION, high)
    if version < MIN_VERSION or low > MAX_VERSION:
        raise WireError(f"client versions {low}..{high} are outside {MIN_VERSION}..{MAX_VERSION}", code=502)
    return version


INT_MIN, INT_MAX = -(2**31), 2**31 - 1  # TWS reads ids and counts as Java ints


def as_int(text: str, default: int = 0) -> int:
    if text in ("", None):
        return default
    try:
        value = int(float(text))
    except (ValueError, OverflowError) as exc:  # "nan", "inf", "1e999"
        raise WireError(f"expected an integer, got {text[:40]!r}") from exc
    if not INT_MIN <= value <= INT_MAX:
        raise WireError(f"integer {text[:40]!r} is out of range")
    return value


def as_float(text: str, default: float | None = None) -> float | None:
    """A client's double: ``""`` and IB's unset value are absent; ``Infinite`` is how the API
    spells infinity (it comes back as a number for the validation to refuse)."""
    if text in ("", None):
        return default
    if text.lstrip("+-") == "Infinite":
        return float(text.replace("Infinite", "inf"))
    try:
        value = float(text)
    except ValueError as exc:
        raise WireError(f"expected a number, got {text[:40]!r}") from exc
    return None if value == UNSET_DOUBLE else value
