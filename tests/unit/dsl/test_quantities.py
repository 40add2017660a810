# -*- coding: utf-8 -*-
"""The DSL's quantities: every accepted form gives the right value, every bad one a QuantityError that says what
was found and what is allowed."""

from __future__ import annotations

import pytest

from ansible_collections.drover.fleet.plugins.module_utils.dsl.quantities import (
    PortValue, QuantityError, parse_cpu, parse_duration_s, parse_instances, parse_memory_mb, parse_number, parse_percentage, parse_port)


@pytest.mark.parametrize("value, cores", [(0.5, 0.5), ("0.2", 0.2), (2, 2.0), ("500m", 0.5), (" 1.5 ", 1.5)])
def test_cpu(value, cores):
    assert parse_cpu(value) == pytest.approx(cores)


@pytest.mark.parametrize("value", [0, -1, "zero", "", None, True, "1 core", float("nan"), float("inf"), [1]])
def test_bad_cpu(value):
    with pytest.raises(QuantityError) as error:
        parse_cpu(value)
    assert error.value.found is value and "cores" in error.value.allowed


@pytest.mark.parametrize("value, megabytes", [
    (1024, 1024.0), ("1024", 1024.0), ("128MB", 128.0), ("128 MB", 128.0), ("120 M", 120.0), ("120 mb", 120.0),
    ("1.5GB", 1500.0), (".5GB", 500.0), ("512M", 512.0), ("2g", 2000.0), ("500KB", 0.5), ("1TB", 1e6),
    ("128Mi", 134.217728), ("1Gi", 1073.741824), ("64MiB", 67.108864),
])
def test_memory(value, megabytes):
    assert parse_memory_mb(value) == pytest.approx(megabytes)


@pytest.mark.parametrize("value", ["128 XB", "MB", "", "-5MB", 0, "1.2.3GB", None, {"mb": 1}])
def test_bad_memory(value):
    with pytest.raises(QuantityError) as error:
        parse_memory_mb(value)
    assert "MB" in error.value.allowed and error.value.message == "invalid memory"


@pytest.mark.parametrize("value, count", [(1, 1), ("3", 3), (4.0, 4), (" 2 ", 2), (10000, 10000)])
def test_instances(value, count):
    assert parse_instances(value) == count and isinstance(parse_instances(value), int)


@pytest.mark.parametrize("value", [0, -2, 1.5, "two", True, None, "1e3", 10001, "100000000000000000000"])
def test_bad_instances(value):
    with pytest.raises(QuantityError, match="instances"):
        parse_instances(value)


@pytest.mark.parametrize("value, seconds", [
    (10, 10.0), ("10", 10.0), ("10s", 10.0), ("1m", 60.0), ("100ms", 0.1), ("1h", 3600.0), ("2 m", 120.0), ("1.5s", 1.5), (0, 0.0),
])
def test_duration(value, seconds):
    assert parse_duration_s(value) == pytest.approx(seconds)


@pytest.mark.parametrize("value", ["10 minutes", "-1s", "s", "", None, "1w", [10]])
def test_bad_duration(value):
    with pytest.raises(QuantityError) as error:
        parse_duration_s(value)
    assert "ms, s, m, h, d" in error.value.allowed


@pytest.mark.parametrize("value, percent", [("90%", 90.0), ("90 %", 90.0), (90, 90.0), ("0%", 0.0), ("100%", 100.0), ("12.5%", 12.5), ("50", 50.0)])
def test_percentage(value, percent):
    assert parse_percentage(value) == percent


@pytest.mark.parametrize("value, message", [("101%", "out of range"), (-1, "out of range"), ("ten", "invalid"), ("%", "invalid"), (None, "invalid")])
def test_bad_percentage(value, message):
    with pytest.raises(QuantityError, match=message) as error:
        parse_percentage(value)
    assert error.value.allowed.startswith("a percentage from 0% to 100%")


@pytest.mark.parametrize("value, port", [
    (8080, PortValue(8080, "http", False)),
    ("8080", PortValue(8080, "http", False)),
    ("8080/http", PortValue(8080, "http", True)),
    ("9050/tcp", PortValue(9050, "tcp", True)),
    ("9050/TCP", PortValue(9050, "tcp", True)),
    ("8080 / http", PortValue(8080, "http", True)),
])
def test_port(value, port):
    assert parse_port(value) == port


@pytest.mark.parametrize("value", [0, 65536, "8080/udp", "http", "80/", "", None, True, "8080/http/x", -80])
def test_bad_port(value):
    with pytest.raises(QuantityError) as error:
        parse_port(value)
    assert "65535" in error.value.allowed


def test_number_bounds_and_whole():
    assert parse_number("4", minimum=0, whole=True) == 4.0
    with pytest.raises(QuantityError, match="not a whole number"):
        parse_number(1.5, whole=True)
    with pytest.raises(QuantityError, match="too small") as error:
        parse_number(-5, minimum=0)
    assert error.value.allowed == "a number of at least 0"
    with pytest.raises(QuantityError, match="not a number"):
        parse_number("many")


@pytest.mark.parametrize("parse, value", [
    (parse_percentage, "٣٠%"), (parse_instances, "٣"), (parse_cpu, "٣"), (parse_memory_mb, "٣MB"), (parse_port, "٨٠"),
    (parse_duration_s, "٣s"), (parse_number, "٣"),
])
def test_digits_of_other_scripts_are_not_numbers(parse, value):
    with pytest.raises(QuantityError):
        parse(value)
