"""CRTP as a Crazyflie speaks it, and the TinyRL app's param and log table (``tinyrl/data/crazyflie_app.yaml``).

The wire facts come from crazyflie-firmware's CRTP documentation (``docs/functional-areas/crtp/``, commit 2a18fc29):
one packet is a header byte (port in bits 7-4, channel in bits 1-0) and at most 30 data bytes; the param and log
TOCs are read with the V2 commands (16-bit ids), log data carries a 24-bit millisecond timestamp. Over cflib's
``udp://`` driver each UDP datagram is one packet, with no other framing.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Literal, cast

import yaml

from tinyrl.errors import ConfigError

__all__ = [
    "APP_TABLE_FILE",
    "CRTP_MAX_DATA",
    "AppTable",
    "LogSpec",
    "Packet",
    "ParamSpec",
    "Port",
    "app_table",
    "header",
    "toc_crc",
]

#: Most data bytes in one packet (``CRTP_MAX_DATA_SIZE``).
CRTP_MAX_DATA = 30
#: The CRTP protocol version the virtual Crazyflie reports (``CRTP_PROTOCOL_VERSION`` of the firmware commit).
PROTOCOL_VERSION = 12
#: The app's table, as data.
APP_TABLE_FILE = "crazyflie_app.yaml"

CType = Literal["uint8", "uint16", "uint32", "int8", "int16", "int32", "float"]

#: struct format of each C type (little-endian).
STRUCT: dict[str, str] = {
    "uint8": "<B",
    "uint16": "<H",
    "uint32": "<I",
    "int8": "<b",
    "int16": "<h",
    "int32": "<i",
    "float": "<f",
}
#: Param TOC type codes (``crtp_parameters.md``); read-only adds 0x40.
PARAM_TYPE: dict[str, int] = {
    "uint8": 0x08,
    "uint16": 0x09,
    "uint32": 0x0A,
    "int8": 0x00,
    "int16": 0x01,
    "int32": 0x02,
    "float": 0x06,
}
PARAM_READ_ONLY = 0x40
#: Log TOC type codes (``crtp_log.md``); a log block asks for a variable "fetched as" one of these.
LOG_TYPE: dict[str, int] = {
    "uint8": 0x01,
    "uint16": 0x02,
    "uint32": 0x03,
    "int8": 0x04,
    "int16": 0x05,
    "int32": 0x06,
    "float": 0x07,
}
LOG_TYPE_NAME = {code: name for name, code in LOG_TYPE.items()}


class Port:
    """CRTP ports (``crtp.h``)."""

    CONSOLE = 0x0
    PARAM = 0x2
    COMMANDER = 0x3
    MEM = 0x4
    LOG = 0x5
    LOCALIZATION = 0x6
    COMMANDER_GENERIC = 0x7
    SETPOINT_HL = 0x8
    SUPERVISOR = 0x9
    PLATFORM = 0xD
    LINK = 0xF


def header(port: int, channel: int) -> int:
    """A packet's header byte; bits 3-2 set, as cflib and the firmware send them."""
    return ((port & 0xF) << 4) | 0x0C | (channel & 0x3)


@dataclass(frozen=True)
class Packet:
    """One CRTP packet: ``port``, ``channel`` and up to :data:`CRTP_MAX_DATA` bytes of ``data``."""

    port: int
    channel: int
    data: bytes = b""

    @classmethod
    def decode(cls, datagram: bytes) -> Packet:
        """The packet of one UDP datagram (header byte, then data).

        Raises:
            ValueError: Empty, or longer than a packet can be.
        """
        if not datagram or len(datagram) > CRTP_MAX_DATA + 1:
            raise ValueError(f"a CRTP datagram has 1 to {CRTP_MAX_DATA + 1} bytes, got {len(datagram)}")
        return cls((datagram[0] >> 4) & 0xF, datagram[0] & 0x3, bytes(datagram[1:]))

    def encode(self) -> bytes:
        """The UDP datagram of this packet.

        Raises:
            ValueError: More data than a packet holds.
        """
        if len(self.data) > CRTP_MAX_DATA:
            raise ValueError(f"a CRTP packet holds at most {CRTP_MAX_DATA} data bytes, got {len(self.data)}")
        return bytes((header(self.port, self.channel),)) + self.data


@dataclass(frozen=True)
class ParamSpec:
    """A parameter: ``group.name``, its C type, its value at boot and whether a client may write it."""

    group: str
    name: str
    ctype: CType
    default: float
    read_only: bool = False

    @property
    def full_name(self) -> str:
        """``group.name``."""
        return f"{self.group}.{self.name}"

    def toc_entry(self) -> bytes:
        """Type byte, then the null-terminated group and name, as a TOC item carries them."""
        code = PARAM_TYPE[self.ctype] | (PARAM_READ_ONLY if self.read_only else 0)
        return bytes((code,)) + self.group.encode() + b"\0" + self.name.encode() + b"\0"


@dataclass(frozen=True)
class LogSpec:
    """A log variable: ``group.name`` and its C type."""

    group: str
    name: str
    ctype: CType

    @property
    def full_name(self) -> str:
        """``group.name``."""
        return f"{self.group}.{self.name}"

    def toc_entry(self) -> bytes:
        """Type byte, then the null-terminated group and name, as a TOC item carries them."""
        return bytes((LOG_TYPE[self.ctype],)) + self.group.encode() + b"\0" + self.name.encode() + b"\0"


@dataclass(frozen=True)
class AppTable:
    """What a Crazyflie with the TinyRL app exposes: params and log variables, in TOC order (ids are indices)."""

    params: tuple[ParamSpec, ...]
    logs: tuple[LogSpec, ...]

    def without_app(self) -> AppTable:
        """The same firmware without the app: no ``tinyrl`` group."""
        return AppTable(
            tuple(p for p in self.params if p.group != "tinyrl"), tuple(v for v in self.logs if v.group != "tinyrl")
        )


def _split(full_name: str) -> tuple[str, str]:
    group, dot, name = full_name.partition(".")
    if not dot or not group or not name or "." in name:
        raise ConfigError(f"{APP_TABLE_FILE}: {full_name!r} is not group.name")
    return group, name


def _ctype(full_name: str, value: object) -> CType:
    if value not in STRUCT:
        raise ConfigError(f"{APP_TABLE_FILE}: {full_name} has type {value!r}, not one of {', '.join(STRUCT)}")
    return cast(CType, value)


@cache
def app_table() -> AppTable:
    """The table of ``tinyrl/data/crazyflie_app.yaml``.

    Raises:
        ConfigError: A malformed entry.
    """
    raw = yaml.safe_load(resources.files("tinyrl").joinpath("data", APP_TABLE_FILE).read_text(encoding="utf-8"))
    params = []
    for full_name, spec in raw["params"].items():
        group, name = _split(full_name)
        params.append(
            ParamSpec(group, name, _ctype(full_name, spec["type"]), float(spec["default"]), bool(spec.get("ro", False)))
        )
    logs = []
    for full_name, ctype in raw["logs"].items():
        group, name = _split(full_name)
        logs.append(LogSpec(group, name, _ctype(full_name, ctype)))
    return AppTable(tuple(params), tuple(logs))


def toc_crc(entries: list[bytes]) -> int:
    """A TOC's fingerprint (CRC-32 of its items in order): a client caches a TOC by it."""
    return zlib.crc32(b"".join(entries)) & 0xFFFFFFFF


def pack_value(ctype: str, value: float) -> bytes:
    """``value`` as the C type stores it (integers rounded and saturated to the type's range)."""
    fmt = STRUCT[ctype]
    if ctype == "float":
        return struct.pack(fmt, value)
    bits = struct.calcsize(fmt) * 8
    lo, hi = (0, 2**bits - 1) if ctype.startswith("u") else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    return struct.pack(fmt, min(max(round(value), lo), hi))


def unpack_value(ctype: str, data: bytes) -> float:
    """The value of ``data`` (exactly the type's size) as a Python number.

    Raises:
        ValueError: ``data`` is not the type's size.
    """
    fmt = STRUCT[ctype]
    if len(data) != struct.calcsize(fmt):
        raise ValueError(f"a {ctype} takes {struct.calcsize(fmt)} bytes, got {len(data)}")
    return float(struct.unpack(fmt, data)[0])
