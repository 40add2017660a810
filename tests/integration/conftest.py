"""Fixtures shared by the integration tests."""

from __future__ import annotations

import pytest

from ansible_collections.drover.fleet.tests.support.haproxy_instance import start_env, stop_env


@pytest.fixture
def env(tmp_path):
    """A real HAProxy in master-worker mode on loopback, with its loopback backends; stopped by pid afterwards."""
    environment = start_env(tmp_path)
    try:
        yield environment
    finally:
        stop_env(environment)
