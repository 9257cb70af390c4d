"""Signed packs: an HMAC-SHA256 of a pack's bytes and its key, so only holders of a secret can publish packs.

A pack's own sha256 trailer is written by whoever uploads it, so it proves the bytes arrived whole, not who made
them: anyone with write access to the bucket could plant a pack that every runner unpacks and runs. With
``VIRTUALENV_CACHE_REMOTE_SIGNING_KEY`` set (an environment variable, a CI secret; never the config file), writers
append a signature and readers refuse packs that are unsigned or signed with another key.

The signature is one more zstd skippable frame after the pack (so ``zstd -d`` still reads a signed pack)::

    magic 0x184D2A5B, length 88 | b"VCSIG001" | key id (16 hex) | HMAC-SHA256 (64 hex)

over ``b"venvcache-pack\\0" + key + b"\\0" + every byte before the frame``. The key id (an HMAC of a fixed text, so
it reveals nothing about the secret) tells "signed with another key" from "tampered". Readers without a key accept
signed and unsigned packs alike and drop the frame before unpacking.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, BinaryIO

from .errors import VenvCacheError
from .pack import PackError

ENV_SIGNING_KEY = "VIRTUALENV_CACHE_REMOTE_SIGNING_KEY"
SIG_MAGIC = 0x184D2A5B  # a zstd skippable-frame magic other than the pack trailer's
SIG_FORMAT = b"VCSIG001"
SIG_SIZE = 8 + len(SIG_FORMAT) + 16 + 64
MIN_SECRET = 16  # characters; a short secret can be guessed offline from any signed pack


class Signer:
    """Signs and verifies packs with one secret."""

    def __init__(self, secret: str | bytes) -> None:
        self._secret = secret.encode() if isinstance(secret, str) else secret
        self.key_id = hmac.new(self._secret, b"venvcache signing key id", hashlib.sha256).hexdigest()[:16]

    def __repr__(self) -> str:
        return f"Signer(key_id={self.key_id!r})"

    def mac(self, key: str) -> hmac.HMAC:
        """A fresh HMAC for the pack of ``key``; feed it the pack's bytes."""
        return hmac.new(self._secret, b"venvcache-pack\0" + key.encode() + b"\0", hashlib.sha256)

    def frame(self, mac: hmac.HMAC) -> bytes:
        return struct.pack("<II", SIG_MAGIC, SIG_SIZE - 8) + SIG_FORMAT + self.key_id.encode() + \
            mac.hexdigest().encode()


def signer_from_env(environ: Mapping[str, str] | None = None) -> Signer | None:
    """The signer for ``VIRTUALENV_CACHE_REMOTE_SIGNING_KEY``, or None when it is unset or empty."""
    secret = (os.environ if environ is None else environ).get(ENV_SIGNING_KEY, "")
    if not secret:
        return None
    if len(secret) < MIN_SECRET:
        raise VenvCacheError(f"{ENV_SIGNING_KEY} is shorter than {MIN_SECRET} characters",
                             fix="use a long random secret, e.g. the output of 'openssl rand -hex 32'")
    return Signer(secret)


class SigningWriter:
    """A write-only file that passes bytes on to ``out`` and signs them; :meth:`finish` appends the signature."""

    def __init__(self, out: BinaryIO, signer: Signer, key: str) -> None:
        self._out = out
        self._signer = signer
        self._mac = signer.mac(key)

    def write(self, data: Any) -> int:
        self._mac.update(data)
        return self._out.write(data)

    def finish(self) -> int:
        """Write the signature frame; returns its size."""
        return self._out.write(self._signer.frame(self._mac))


def parse_frame(tail: bytes) -> tuple[str, str] | None:
    """(key id, hmac hex) when ``tail`` (the last :data:`SIG_SIZE` bytes) is a signature frame, else None."""
    if len(tail) != SIG_SIZE:
        return None
    magic, length = struct.unpack("<II", tail[:8])
    if magic != SIG_MAGIC or length != SIG_SIZE - 8 or tail[8:16] != SIG_FORMAT:
        return None
    text = tail[16:].decode("ascii", "replace")
    return text[:16], text[16:]


def tail_problem(tail: bytes, signer: Signer) -> str | None:
    """Why a pack ending in ``tail`` would be refused by ``signer`` (checked before downloading it), or None."""
    found = parse_frame(tail)
    if found is None:
        return f"the pack is not signed, and {ENV_SIGNING_KEY} is set (only signed packs are used)"
    if found[0] != signer.key_id:
        return f"the pack is signed with another key (key id {found[0]}, ours is {signer.key_id})"
    return None


def verified(chunks: Iterable[Any], *, key: str, signer: Signer | None) -> Iterator[bytes]:
    """The pack's bytes from a stream of a possibly signed pack, signature frame removed.

    With a signer, a pack that is unsigned, signed with another key or whose HMAC does not match raises
    :class:`PackError` at the end of the stream (before the unpacker verifies and publishes the entry); without
    one, a signature frame is dropped and an unsigned pack passes through as it is.
    """
    mac = signer.mac(key) if signer is not None else None
    tail = b""
    for chunk in chunks:
        data = tail + bytes(chunk)
        body, tail = data[:-SIG_SIZE], data[-SIG_SIZE:]
        if body:
            if mac is not None:
                mac.update(body)
            yield body
    found = parse_frame(tail)
    if signer is None or mac is None:
        if found is None and tail:
            yield tail
        return
    problem = tail_problem(tail, signer)
    if problem:
        raise PackError(problem)
    if not hmac.compare_digest(found[1] if found else "", mac.hexdigest()):
        raise PackError("the pack's signature does not match its content (tampered, or made with another key)")
