# -*- coding: utf-8 -*-
"""Property tests: whatever YAML comes in, the reader returns a model or raises DslError with located issues;
never another exception."""

from __future__ import annotations

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.drover.fleet.plugins.module_utils.errors import DslError
from ansible_collections.drover.fleet.plugins.module_utils.dsl.reader import KINDS, load_text, read_artifact
from ansible_collections.drover.fleet.tests.support.dsl_strategies import DOCUMENTS, DSL_DOCUMENTS


def _check(error: DslError) -> None:
    assert error.issues
    for issue in error.issues:
        assert issue.code and issue.message and isinstance(issue.origin.path, str)
        str(issue)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents=st.lists(DOCUMENTS, min_size=1, max_size=3))
def test_load_text_never_crashes(documents):
    text = yaml.safe_dump_all(documents, allow_unicode=True)
    try:
        load_text(text, "random.yml")
    except DslError as error:
        _check(error)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large])
@given(documents=DSL_DOCUMENTS)
def test_dsl_shaped_input_loads_or_fails_cleanly(documents):
    """Documents shaped like real breeds, blueprints and gateways, with good and bad values mixed."""
    try:
        artifacts = load_text(yaml.safe_dump_all(documents, allow_unicode=True), "dsl.yml")
    except DslError as error:
        _check(error)
        return
    # what loads is fully resolved: every route of a blueprint gateway is bound to a cluster and port
    for blueprint in artifacts.blueprints.values():
        for gateway in blueprint.gateways:
            for route in gateway.routes:
                assert route.target_kind == "external" or route.target_cluster is not None


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(sorted(KINDS)), document=DOCUMENTS, strict=st.booleans())
def test_read_artifact_never_crashes(kind, document, strict):
    try:
        read_artifact(kind, yaml.safe_dump(document, allow_unicode=True), "random.yml", strict=strict)
    except DslError as error:
        _check(error)


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=60))
def test_any_text_reads_or_fails_cleanly(text):
    try:
        load_text(text, "text.yml")
    except DslError as error:
        _check(error)
