# -*- coding: utf-8 -*-
# Copyright: drover.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The DSL's quantities: cpu, memory, instances, times, percentages and ports, in the forms VAMP accepts.

Each parser returns a plain value or raises `QuantityError`, which says what was found and what is allowed; the
reader turns it into a `DslIssue` at the right file, line, column and path.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ansible_collections.drover.fleet.plugins.module_utils.errors import DroverError
from ansible_collections.drover.fleet.plugins.module_utils.dsl.model import HTTP, TCP


class QuantityError(DroverError):
    """A value that is not a valid quantity of its kind."""

    def __init__(self, message: str, found, allowed: str):
        super().__init__(message)
        self.message = message
        self.found = found
        self.allowed = allowed


@dataclass(frozen=True)
class PortValue:
    """A parsed port value. `explicit` is False when no protocol was written (the port is then http)."""

    number: int
    protocol: str
    explicit: bool


_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)"
_MEMORY = re.compile(rf"^({_NUMBER})\s*([a-z]*)$", re.IGNORECASE)
_DURATION = re.compile(rf"^({_NUMBER})\s*(ms|s|m|h|d)?$", re.IGNORECASE)
_PERCENT = re.compile(rf"^({_NUMBER})\s*(%?)$")
_PORT = re.compile(r"^(\d+)\s*(?:/\s*([a-z]+))?$", re.IGNORECASE)
_CPU_MILLI = re.compile(r"^(\d+)m$")

# memory units -> megabytes (MB is decimal, as in VAMP where .5GB is 500 MB; Ki/Mi/Gi are binary)
_MEMORY_UNITS = {
    "": 1.0, "b": 1e-6, "k": 1e-3, "kb": 1e-3, "m": 1.0, "mb": 1.0, "g": 1e3, "gb": 1e3, "t": 1e6, "tb": 1e6,
    "ki": 1024 / 1e6, "kib": 1024 / 1e6, "mi": 1024 ** 2 / 1e6, "mib": 1024 ** 2 / 1e6,
    "gi": 1024 ** 3 / 1e6, "gib": 1024 ** 3 / 1e6, "ti": 1024 ** 4 / 1e6, "tib": 1024 ** 4 / 1e6,
}
_DURATION_UNITS = {"": 1.0, "ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}

MEMORY_ALLOWED = "a number of megabytes, or a number with a unit: KB, MB, GB, TB (decimal, .5GB = 500 MB) or Ki, Mi, Gi (binary), e.g. 128MB"
CPU_ALLOWED = "a number of cores greater than 0, e.g. 0.5 or \"0.2\", or millicores such as 500m"
# one HAProxy server slot per instance, up to a scale escalation's maximum: beyond this a single service's backend
# makes haproxy.cfg large and `haproxy -c` slow (100,000 slots took minutes) for no fleet this tool runs
MAX_INSTANCES = 10000
INSTANCES_ALLOWED = f"a whole number from 1 to {MAX_INSTANCES}"
DURATION_ALLOWED = "a number of seconds, or a number with a unit: ms, s, m, h, d (e.g. 100ms, 10s, 1m)"
PERCENT_ALLOWED = "a percentage from 0% to 100% in steps of 0.01%, e.g. 90%, 12.5% or 0.05%"
# Percentages are route weights and condition strengths: HAProxy draws one of PERCENT_UNITS per request (rand() and an
# integer map), so 0.01% is one unit and a finer share would be rounded away (0.001% would get no traffic at all).
PERCENT_UNITS = 10000
PORT_ALLOWED = "a port number from 1 to 65535, optionally with /http or /tcp, e.g. 8080/http"


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _text(value) -> str | None:
    # ASCII only: Python reads other scripts' digits as numbers ('٣٠%' would be 30%)
    return value.strip() if isinstance(value, str) and value.isascii() else None


def parse_cpu(value) -> float:
    """Cores as a float: 0.5, "0.2", "500m"."""
    number = None
    if _is_number(value):
        number = float(value)
    elif (text := _text(value)) is not None:
        milli = _CPU_MILLI.match(text)
        try:
            number = int(milli.group(1)) / 1000.0 if milli else float(text)
        except ValueError:
            number = None
    if number is None or not math.isfinite(number) or number <= 0:
        raise QuantityError("invalid cpu", value, CPU_ALLOWED)
    return number


def parse_memory_mb(value) -> float:
    """Megabytes as a float: 128, "128MB", "1.5GB", "128 MB", "120 M", "128Mi"."""
    if _is_number(value):
        number = float(value)
    else:
        text = _text(value)
        match = _MEMORY.match(text) if text else None
        unit = match.group(2).lower() if match else None
        if unit not in _MEMORY_UNITS:
            raise QuantityError("invalid memory", value, MEMORY_ALLOWED)
        number = float(match.group(1)) * _MEMORY_UNITS[unit]
    if not math.isfinite(number) or number <= 0:
        raise QuantityError("invalid memory", value, MEMORY_ALLOWED)
    return number


def parse_instances(value) -> int:
    """A whole number of instances, at least 1 ("3" is accepted)."""
    number = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif (text := _text(value)) is not None and text.isdigit():
        number = int(text)
    if number is None or not 1 <= number <= MAX_INSTANCES:
        raise QuantityError("invalid instances", value, INSTANCES_ALLOWED)
    return number


def parse_duration_s(value) -> float:
    """Seconds as a float: 10, "10s", "1m" (60), "100ms" (0.1)."""
    if _is_number(value):
        number = float(value)
    else:
        text = _text(value)
        match = _DURATION.match(text) if text else None
        if not match:
            raise QuantityError("invalid time", value, DURATION_ALLOWED)
        number = float(match.group(1)) * _DURATION_UNITS[(match.group(2) or "").lower()]
    if not math.isfinite(number) or number < 0:
        raise QuantityError("invalid time", value, DURATION_ALLOWED)
    return number


def parse_percentage(value) -> float:
    """A percentage from 0 to 100 as a float: "90%", "90 %", 90."""
    if _is_number(value):
        number = float(value)
    else:
        text = _text(value)
        match = _PERCENT.match(text) if text else None
        if not match:
            raise QuantityError("invalid percentage", value, PERCENT_ALLOWED)
        number = float(match.group(1))
    if not math.isfinite(number) or number < 0 or number > 100:
        raise QuantityError("percentage out of range", value, PERCENT_ALLOWED)
    units = number * PERCENT_UNITS / 100
    if abs(units - round(units)) > 1e-6:
        where = "below" if units < 1 else "not a multiple of"
        raise QuantityError(f"{number:g}% is {where} the 0.01% resolution of HAProxy's weighted draw", value, PERCENT_ALLOWED)
    return number


def parse_port(value) -> PortValue:
    """A port: 8080, "8080", "8080/http", "9050/tcp". Without a protocol the port is http."""
    if isinstance(value, int) and not isinstance(value, bool):
        number, protocol, explicit = value, HTTP, False
    else:
        text = _text(value)
        match = _PORT.match(text) if text else None
        if not match:
            raise QuantityError("invalid port", value, PORT_ALLOWED)
        number = int(match.group(1))
        protocol = (match.group(2) or HTTP).lower()
        explicit = match.group(2) is not None
        if protocol not in (HTTP, TCP):
            raise QuantityError("invalid port protocol", value, PORT_ALLOWED)
    if not 1 <= number <= 65535:
        raise QuantityError("port number out of range", value, PORT_ALLOWED)
    return PortValue(number, protocol, explicit)


def parse_number(value, minimum: float | None = None, whole: bool = False) -> float:
    """A plain number (a YAML number or a numeric string), optionally whole and at least `minimum`."""
    allowed = "a whole number" if whole else "a number"
    if minimum is not None:
        allowed += f" of at least {minimum:g}"
    number = None
    if _is_number(value):
        number = float(value)
    elif (text := _text(value)) is not None:
        try:
            number = float(text)
        except ValueError:
            number = None
    if number is None or not math.isfinite(number):
        raise QuantityError("not a number", value, allowed)
    if whole and not number.is_integer():
        raise QuantityError("not a whole number", value, allowed)
    if minimum is not None and number < minimum:
        raise QuantityError("number too small", value, allowed)
    return number
