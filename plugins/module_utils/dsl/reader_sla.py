# -*- coding: utf-8 -*-
# Copyright: drover.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reads SLAs, escalations and scales.

An SLA's list of two or more escalations is wrapped into one `to_all` escalation, as VAMP's SLA reader does; a
single escalation stays alone. Unknown SLA and escalation types are kept generic, with their other keys as
`parameters`.
"""

from __future__ import annotations

import difflib

from ansible_collections.drover.fleet.plugins.module_utils.errors import Origin
from ansible_collections.drover.fleet.plugins.module_utils.dsl.model import Escalation, Reference, Scale, Sla, SlaReference
from ansible_collections.drover.fleet.plugins.module_utils.dsl.quantities import (
    INSTANCES_ALLOWED, MAX_INSTANCES, parse_cpu, parse_duration_s, parse_instances, parse_memory_mb, parse_number)
from ansible_collections.drover.fleet.plugins.module_utils.dsl.reader_context import Described, ReadContext

SLIDING_WINDOW = "response_time_sliding_window"
SCALE_ESCALATIONS = ("scale_instances", "scale_cpu", "scale_memory")
GROUP_ESCALATIONS = ("to_all", "to_one")
KNOWN_ESCALATIONS = SCALE_ESCALATIONS + GROUP_ESCALATIONS + ("notify",)
_COMMON_KEYS = ("name", "kind", "metadata")
_SLIDING_WINDOW_KEYS = frozenset(_COMMON_KEYS + ("type", "threshold", "window", "escalations"))
_SCALE_ESCALATION_KEYS = frozenset(_COMMON_KEYS + ("type", "minimum", "maximum", "scale_by", "target"))
_GROUP_KEYS = frozenset(_COMMON_KEYS + ("type", "escalations"))
_SCALE_KEYS = frozenset(_COMMON_KEYS + ("cpu", "memory", "instances"))


# --- SLA --------------------------------------------------------------------------------------------------------

def read_sla_or_reference(ctx: ReadContext, value, origin: Origin) -> Sla | SlaReference | None:
    """`sla: name`, `sla: {ref: name, escalations: [...]}` or an inline SLA."""
    found = ctx.reference_or_map(value, origin, "sla", also_with_reference=("escalations",))
    if isinstance(found, Reference):
        reference = SlaReference(found.kind, found.name, found.origin)
        if isinstance(value, dict) and "escalations" in value:
            reference.escalations = read_escalation_list(ctx, value["escalations"], ctx.at(origin, value, "escalations"))
        return reference
    if isinstance(found, dict):
        return read_sla(ctx, found, origin)
    return None


def read_sla(ctx: ReadContext, mapping: dict, origin: Origin) -> Sla | None:
    sla_type = ctx.text(mapping, "type", origin, required=True, what=f"an SLA type, e.g. {SLIDING_WINDOW}")
    name = ctx.name(mapping["name"], ctx.at(origin, mapping, "name"), "SLA name") if mapping.get("name") is not None else None
    sla = Sla(sla_type or "", name, origin=origin)
    ctx.remember(sla, mapping)
    if sla_type == SLIDING_WINDOW:
        ctx.check_keys(mapping, origin, _SLIDING_WINDOW_KEYS)
        _read_sliding_window(ctx, sla, mapping, origin)
    else:
        _warn_near_miss(ctx, mapping, origin, "SLA", (SLIDING_WINDOW,))
        sla.parameters = {key: value for key, value in mapping.items() if key not in _COMMON_KEYS + ("type", "escalations")}
    sla.escalations = read_escalation_list(ctx, mapping.get("escalations"), ctx.at(origin, mapping, "escalations"))
    return sla


def _read_sliding_window(ctx: ReadContext, sla: Sla, mapping: dict, origin: Origin) -> None:
    threshold = _section(ctx, mapping, "threshold", origin, ("upper", "lower"))
    if threshold is not None:
        where = ctx.at(origin, mapping, "threshold")
        sla.upper_ms = _milliseconds(ctx, threshold, "upper", where)
        sla.lower_ms = _milliseconds(ctx, threshold, "lower", where)
        if sla.upper_ms is not None and sla.lower_ms is not None and sla.lower_ms > sla.upper_ms:
            ctx.error(where, "threshold lower is above upper", "InvalidValue", f"lower {sla.lower_ms:g} ms, upper {sla.upper_ms:g} ms",
                      "lower <= upper")
    window = _section(ctx, mapping, "window", origin, ("interval", "cooldown"))
    if window is not None:
        where = ctx.at(origin, mapping, "window")
        sla.interval_s = _seconds(ctx, window, "interval", where)
        sla.cooldown_s = _seconds(ctx, window, "cooldown", where)
        if sla.interval_s == 0:
            ctx.error(ctx.at(where, window, "interval"), "window interval must be above 0", "InvalidValue", 0, "a time above 0, e.g. 30s")


def _section(ctx: ReadContext, mapping: dict, key: str, origin: Origin, fields) -> dict | None:
    if mapping.get(key) is None:
        ctx.missing(mapping, key, origin, f"missing '{key}'", f"{key}: {{{', '.join(fields)}}}")
        return None
    section = ctx.mapping(mapping[key], ctx.at(origin, mapping, key), key)
    if section is not None:
        ctx.check_keys(section, ctx.at(origin, mapping, key), fields, runtime_only=())
    return section


def _milliseconds(ctx: ReadContext, mapping: dict, key: str, origin: Origin) -> float | None:
    """Thresholds are milliseconds; a time with a unit ("1s", "250ms") is converted."""
    value = mapping.get(key)
    if value is None:
        ctx.missing(mapping, key, origin, f"missing '{key}'", "milliseconds, e.g. 1000 or 1s")
        return None
    where = ctx.at(origin, mapping, key)
    if isinstance(value, str) and not value.strip().replace(".", "", 1).isdigit():
        seconds = ctx.quantity(parse_duration_s, value, where, f"threshold {key}")
        return None if seconds is None else seconds * 1000.0
    return ctx.quantity(lambda v: parse_number(v, minimum=0), value, where, f"threshold {key}")


def _seconds(ctx: ReadContext, mapping: dict, key: str, origin: Origin) -> float | None:
    value = mapping.get(key)
    if value is None:
        ctx.missing(mapping, key, origin, f"missing '{key}'", "seconds, e.g. 600 or 10m")
        return None
    return ctx.quantity(parse_duration_s, value, ctx.at(origin, mapping, key), f"window {key}")


# --- escalations ------------------------------------------------------------------------------------------------

def read_escalation_list(ctx: ReadContext, value, origin: Origin) -> list:
    """An SLA's escalations; two or more are wrapped into one `to_all`."""
    escalations = _read_escalation_items(ctx, value, origin)
    if len(escalations) > 1:
        return [Escalation("to_all", escalations=escalations, origin=origin)]
    return escalations


def _read_escalation_items(ctx: ReadContext, value, origin: Origin) -> list:
    escalations = []
    for index, item in enumerate(ctx.items(value)):
        escalation = read_escalation_or_reference(ctx, item, ctx.item_origin(origin, value, index))
        if escalation is not None:
            escalations.append(escalation)
    return escalations


def read_escalation_or_reference(ctx: ReadContext, value, origin: Origin) -> Escalation | Reference | None:
    found = ctx.reference_or_map(value, origin, "escalation")
    if isinstance(found, dict):
        return read_escalation(ctx, found, origin)
    return found


def read_escalation(ctx: ReadContext, mapping: dict, origin: Origin) -> Escalation | None:
    group_key = next((key for key in GROUP_ESCALATIONS if key in mapping), None)
    if group_key is not None and "type" not in mapping:
        # `to_all: [...]` or `to_one: {escalations: [...]}`
        ctx.check_keys(mapping, origin, _COMMON_KEYS + (group_key,))
        members = mapping[group_key]
        where = ctx.at(origin, mapping, group_key)
        if isinstance(members, dict) and "escalations" in members:
            ctx.check_keys(members, where, ("escalations",))
            where = ctx.at(where, members, "escalations")
            members = members["escalations"]
        return _group(ctx, group_key, mapping, members, where, origin)
    escalation_type = ctx.text(mapping, "type", origin, required=True, what="an escalation type, e.g. scale_instances or to_all")
    if escalation_type is None:
        return None
    if escalation_type in GROUP_ESCALATIONS:
        ctx.check_keys(mapping, origin, _GROUP_KEYS)
        return _group(ctx, escalation_type, mapping, mapping.get("escalations"), ctx.at(origin, mapping, "escalations"), origin)
    escalation = Escalation(escalation_type, _optional_name(ctx, mapping, origin), origin=origin)
    ctx.remember(escalation, mapping)
    if escalation_type in SCALE_ESCALATIONS:
        ctx.check_keys(mapping, origin, _SCALE_ESCALATION_KEYS)
        _read_scale_escalation(ctx, escalation, mapping, origin)
    else:
        _warn_near_miss(ctx, mapping, origin, "escalation", KNOWN_ESCALATIONS)
        escalation.parameters = {key: value for key, value in mapping.items() if key not in _COMMON_KEYS + ("type",)}
    return escalation


def _warn_near_miss(ctx: ReadContext, mapping: dict, origin: Origin, what: str, known: tuple) -> None:
    """An unknown type is kept generic, as VAMP keeps it; one that is close to a known type is most likely a typo,
    which would otherwise leave the SLA or escalation silently without effect."""
    written = ctx.text(mapping, "type", origin)
    close = difflib.get_close_matches((written or "").lower(), known, n=1, cutoff=0.8)
    if close and written not in known:
        ctx.warn(ctx.at(origin, mapping, "type"), f"unknown {what} type '{written}', kept as a generic {what} that drover does not act on; "
                 f"did you mean '{close[0]}'?", "UnknownTypeNearMiss")


def _group(ctx: ReadContext, group_type: str, mapping: dict, members, where: Origin, origin: Origin) -> Escalation:
    escalation = Escalation(group_type, _optional_name(ctx, mapping, origin), origin=origin)
    ctx.remember(escalation, mapping)
    escalation.escalations = _read_escalation_items(ctx, members, where)
    if not ctx.items(members):  # members that do not read are reported on their own
        ctx.error(where, f"a {group_type} escalation needs at least one escalation", "MissingPathValueError",
                  Described("an empty list" if isinstance(members, list) else "no escalations"), "a list of escalations")
    return escalation


def _optional_name(ctx: ReadContext, mapping: dict, origin: Origin) -> str | None:
    if mapping.get("name") is None:
        return None
    return ctx.name(mapping["name"], ctx.at(origin, mapping, "name"), "escalation name")


def _read_scale_escalation(ctx: ReadContext, escalation: Escalation, mapping: dict, origin: Origin) -> None:
    whole = escalation.type == "scale_instances"
    values = {}
    for key in ("minimum", "maximum", "scale_by"):
        if mapping.get(key) is None:
            ctx.missing(mapping, key, origin, f"missing '{key}'", "a number")
            continue
        values[key] = ctx.quantity(lambda v: parse_number(v, minimum=0, whole=whole), mapping[key], ctx.at(origin, mapping, key), key)
    escalation.minimum = values.get("minimum")
    escalation.maximum = values.get("maximum")
    escalation.scale_by = values.get("scale_by")
    if escalation.scale_by is not None and escalation.scale_by <= 0:
        ctx.error(ctx.at(origin, mapping, "scale_by"), "scale_by must be above 0", "InvalidValue", mapping["scale_by"], "a number above 0")
    if whole and escalation.maximum is not None and escalation.maximum > MAX_INSTANCES:
        ctx.error(ctx.at(origin, mapping, "maximum"), "too many instances", "InvalidValue", mapping["maximum"], INSTANCES_ALLOWED)
    if escalation.minimum is not None and escalation.maximum is not None and escalation.minimum > escalation.maximum:
        ctx.error(ctx.at(origin, mapping, "maximum"), "maximum is below minimum", "InvalidValue",
                  f"minimum {escalation.minimum:g}, maximum {escalation.maximum:g}", "minimum <= maximum")
    if mapping.get("target") is not None:
        escalation.target = ctx.name(mapping["target"], ctx.at(origin, mapping, "target"), "escalation target cluster")


# --- scale ------------------------------------------------------------------------------------------------------

def read_scale_or_reference(ctx: ReadContext, value, origin: Origin) -> Scale | Reference | None:
    found = ctx.reference_or_map(value, origin, "scale")
    if isinstance(found, dict):
        return read_scale(ctx, found, origin)
    return found


def read_scale(ctx: ReadContext, mapping: dict, origin: Origin) -> Scale | None:
    ctx.check_keys(mapping, origin, _SCALE_KEYS)
    values = {}
    for key, parser in (("cpu", parse_cpu), ("memory", parse_memory_mb), ("instances", parse_instances)):
        if mapping.get(key) is None:
            ctx.missing(mapping, key, origin, f"a scale needs '{key}'", f"{key}: <value>")
            continue
        values[key] = ctx.field_quantity(parser, mapping, key, origin, f"scale {key}")
    if len([value for value in values.values() if value is not None]) < 3:
        return None
    name = ctx.field_name(mapping, "name", origin, "scale name") if mapping.get("name") is not None else None
    scale = Scale(values["cpu"], values["memory"], values["instances"], name, origin)
    ctx.remember(scale, mapping)
    return scale
