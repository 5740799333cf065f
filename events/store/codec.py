"""msgpack transcoder for the event log."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import msgpack
from eventsourcing.persistence import Transcoder

from aipartnerupflow.errors import TaskValidationError

_UUID_EXT = 1


def _encode_extra(obj: Any) -> Any:
    if isinstance(obj, UUID):
        return msgpack.ExtType(_UUID_EXT, obj.bytes)
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    raise TypeError(f"no msgpack form for {type(obj).__name__} {obj!r:.60}")


def _decode_extra(code: int, data: bytes) -> Any:
    if code == _UUID_EXT:
        return UUID(bytes=data)
    return msgpack.ExtType(code, data)


class MsgpackTranscoder(Transcoder):
    """Encodes event state as msgpack; timezone-aware datetimes use the timestamp type."""

    def __init__(self) -> None:
        self._packer = msgpack.Packer(default=_encode_extra, use_bin_type=True, datetime=True)

    def encode(self, obj: Any) -> bytes:
        # Validation keeps such values out; should one slip through, it is still refused
        # with a typed error before anything is written.
        try:
            return self._packer.pack(obj)
        except (TypeError, ValueError, OverflowError) as exc:
            raise TaskValidationError(f"cannot be stored in the event log: {exc}") from None

    def decode(self, data: bytes) -> Any:
        return msgpack.unpackb(
            data, ext_hook=_decode_extra, raw=False, timestamp=3, strict_map_key=False
        )


_clone_packer = msgpack.Packer(use_bin_type=True)


def clone_json(value: Any) -> Any:
    """A deep copy of a JSON-like value, much cheaper than ``copy.deepcopy``."""
    if not value and type(value) in (dict, list):
        return type(value)()  # most values copied are empty: no need to encode those
    return msgpack.unpackb(_clone_packer.pack(value), raw=False, strict_map_key=False)
