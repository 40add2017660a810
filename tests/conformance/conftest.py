# -*- coding: utf-8 -*-
"""Where the VAMP conformance corpus is, for the conformance tests.

The corpus sits beside the repository checkout (`<repo>/../shared/vamp-conformance`); DROVER_VAMP_CORPUS names
another folder. It is read in place and never copied into the project. Tests that need it skip with a clear
message when it is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

CORPUS_ENV = "DROVER_VAMP_CORPUS"


def locate_vamp_corpus() -> Path:
    override = os.environ.get(CORPUS_ENV)
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2].parent / "shared" / "vamp-conformance"


def _absent_message(corpus: Path) -> str:
    return f"VAMP conformance corpus not found at {corpus} (expected expectations.yaml there; set {CORPUS_ENV} to its folder)"


@pytest.fixture(scope="session")
def vamp_corpus() -> Path:
    corpus = locate_vamp_corpus()
    if not (corpus / "expectations.yaml").is_file():
        pytest.skip(_absent_message(corpus))
    return corpus


@pytest.fixture(scope="session")
def vamp_expectations(vamp_corpus: Path) -> dict:
    return yaml.safe_load((vamp_corpus / "expectations.yaml").read_text(encoding="utf-8"))


def pytest_generate_tests(metafunc):
    """Parametrizes `vamp_entry` with the in-scope (core) entries of expectations.yaml. A test module's
    KNOWN_DISAGREEMENTS ({file: reason}) marks those entries xfail(strict=True), so a fixed one shows up."""
    if "vamp_entry" not in metafunc.fixturenames:
        return
    corpus = locate_vamp_corpus()
    expectations = corpus / "expectations.yaml"
    if not expectations.is_file():
        metafunc.parametrize("vamp_entry", [pytest.param(None, marks=pytest.mark.skip(reason=_absent_message(corpus)))], ids=["corpus-absent"])
        return
    entries = yaml.safe_load(expectations.read_text(encoding="utf-8"))["entries"]
    known = getattr(metafunc.module, "KNOWN_DISAGREEMENTS", {})
    params = []
    for entry in entries:
        if entry["scope"] != "core":
            continue
        marks = [pytest.mark.xfail(strict=True, reason=known[entry["file"]])] if entry["file"] in known else []
        params.append(pytest.param(entry, id=entry["file"], marks=marks))
    metafunc.parametrize("vamp_entry", params)
