"""IEEE 488.2 arbitrary block headers: `#N<len>` (definite) and `#0` (indefinite, ends at LF)."""
from __future__ import annotations

from labbench.errors import TransferError

MAX_DEFINITE_BYTES = 999_999_999


def encode_header(n_bytes: int) -> bytes:
    """The `#N<len>` header for a definite-length block of n_bytes."""
    if not 0 <= n_bytes <= MAX_DEFINITE_BYTES:
        raise ValueError(f"block of {n_bytes} bytes cannot have a definite-length header")
    digits = str(n_bytes)
    return b"#" + str(len(digits)).encode() + digits.encode()


def encode_block(payload: bytes | memoryview, terminate: bool = True) -> bytes:
    """A definite-length block, with the LF that Keysight instruments send after it."""
    return encode_header(len(payload)) + bytes(payload) + (b"\n" if terminate else b"")


def parse_header(head: bytes, where: str = "") -> tuple[int, int | None]:
    """Parse the start of a block: returns (header length, payload length or None for `#0`).

    `head` must hold at least the complete header (2 + N bytes); raises TransferError otherwise.
    """
    if len(head) < 2 or head[:1] != b"#":
        raise TransferError(f"{where}expected a binary block starting with '#', got {head[:16]!r}")
    n_digits_char = head[1:2]
    if not n_digits_char.isdigit():
        raise TransferError(f"{where}malformed block header {head[:12]!r}: '#' must be followed by a digit")
    n_digits = int(n_digits_char)
    if n_digits == 0:
        return 2, None
    if len(head) < 2 + n_digits:
        raise TransferError(f"{where}block header {head!r} is shorter than its {n_digits} length digits")
    length_text = head[2:2 + n_digits]
    if not length_text.isdigit():
        raise TransferError(f"{where}malformed block length {length_text!r} in header {head[:2 + n_digits]!r}")
    return 2 + n_digits, int(length_text)
