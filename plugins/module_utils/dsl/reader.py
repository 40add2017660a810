# -*- coding: utf-8 -*-
# Copyright: drover.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The DSL reader's public entry points.

- `read_artifact(kind, text, file=None)`: one document, read as VAMP's reader specs see it: references stay
  `Reference`s, an unset weight or condition_strength stays None, and VAMP's reader rules are checked.
- `load_text(text, file=None)` and `load_paths(paths)`: any number of documents (multi-document files, whole
  directories), each document's kind found from its `kind:` key or its shape; every reference is resolved across
  all of them, and the whole set is checked with VAMP's rules and the HAProxy rules. The result has no Reference
  left for anything that exists.

Every problem found is reported at once, in one DslError: file, line:column, dotted path, what was found and what
is allowed. VAMP runtime-only fields (dialects, arguments, network) are ignored with a warning in
`ArtifactSet.warnings`.
"""

from __future__ import annotations

import os
import stat

from ansible_collections.drover.fleet.plugins.module_utils.errors import DslError, DslIssue, Origin
from ansible_collections.drover.fleet.plugins.module_utils.dsl.model import ArtifactSet, Blueprint
from ansible_collections.drover.fleet.plugins.module_utils.dsl.reader_blueprint import read_blueprint
from ansible_collections.drover.fleet.plugins.module_utils.dsl.reader_breed import read_breed
from ansible_collections.drover.fleet.plugins.module_utils.dsl.reader_context import Described, ReadContext
from ansible_collections.drover.fleet.plugins.module_utils.dsl.reader_gateway import read_condition, read_gateway, read_named_route
from ansible_collections.drover.fleet.plugins.module_utils.dsl.reader_sla import (
    GROUP_ESCALATIONS, KNOWN_ESCALATIONS, read_escalation, read_scale, read_sla)
from ansible_collections.drover.fleet.plugins.module_utils.dsl.resolve import resolve_references
from ansible_collections.drover.fleet.plugins.module_utils.dsl.targets import bind_blueprint, bind_standalone_gateway
from ansible_collections.drover.fleet.plugins.module_utils.dsl.validation import Validator
from ansible_collections.drover.fleet.plugins.module_utils.dsl.yaml_loader import YamlSyntaxError, java_text, load_yaml_documents, paused_gc

# kind -> the ArtifactSet table that holds it
KINDS = {
    "breed": "breeds",
    "blueprint": "blueprints",
    "gateway": "gateways",
    "sla": "slas",
    "scale": "scales",
    "escalation": "escalations",
    "condition": "conditions",
    "route": "routes",
}
KINDS_ALLOWED = ", ".join(KINDS) + " (or the plural: breeds, ...)"
YAML_SUFFIXES = (".yml", ".yaml")
_NAMED_KINDS = ("sla", "scale", "escalation", "condition")


def normalize_kind(text) -> str | None:
    """'breeds', 'Breed' or 'breed' -> 'breed'; None for anything that is not a kind."""
    if not isinstance(text, str):
        return None
    kind = text.strip().lower()
    if kind.endswith("s") and kind[:-1] in KINDS:
        kind = kind[:-1]
    return kind if kind in KINDS else None


def read_artifact(kind: str, text: str, file: str | None = None, strict: bool = False):
    """One artifact of the given kind (breed, blueprint, gateway, sla, scale, escalation, condition, route) from
    a one-document YAML text, as VAMP's reader sees it. `strict` adds the HAProxy rules that load_* apply.
    Raises DslError listing every issue."""
    ctx = ReadContext(file)
    wanted = normalize_kind(kind)
    if wanted is None:
        raise DslError([DslIssue(ctx.root(), "unknown artifact kind", "UnknownArtifactKind", repr(kind), KINDS_ALLOWED)])
    documents = [document for document in load_yaml_documents(text, file) if document.value is not None]
    if len(documents) != 1:
        line = documents[1].line if len(documents) > 1 else None
        raise DslError([DslIssue(ctx.root(line), f"expected one {wanted} document, found {len(documents)}", "InvalidDocumentCount",
                                 str(len(documents)), "exactly one document; load_text reads several")])
    document = documents[0]
    origin = ctx.root(document.line, document.column)
    mapping = ctx.mapping(document.value, origin, f"a {wanted}")
    artifact = None
    if mapping is not None:
        declared = mapping.get("kind")
        if declared is not None and normalize_kind(java_text(declared)) != wanted:
            ctx.error(ctx.at(origin, mapping, "kind"), f"the document's kind does not match: expected {wanted}", "InconsistentArtifactKind",
                      java_text(declared), f"{wanted}s (or no kind)")
        artifact = _read_document(ctx, wanted, mapping, origin)
    if isinstance(artifact, Blueprint):
        bind_blueprint(ctx, artifact)
    if artifact is not None:
        Validator(ctx, strict).artifact(artifact)
    _raise_if_any(ctx)
    return artifact


def load_text(text: str, file: str | None = None) -> ArtifactSet:
    """Every artifact in a (multi-document) YAML text, resolved and validated."""
    ctx = ReadContext(file)
    artifacts = ArtifactSet()
    with paused_gc():
        _load_into(ctx, artifacts, text)
        return _finish(ctx, artifacts)


def load_paths(paths: list[str]) -> ArtifactSet:
    """Every artifact in the given files and directories (*.yml and *.yaml, recursively, in sorted order),
    resolved across all of them and validated."""
    ctx = ReadContext()
    artifacts = ArtifactSet()
    with paused_gc():
        return _load_files(ctx, artifacts, yaml_files(paths, ctx))


def read_paths(paths: list[str]) -> tuple[ArtifactSet, DslError | None]:
    """load_paths, with the DslError returned beside the artifacts read so far instead of raised: what read cleanly
    can still be checked further (dsl/clean_subset.py)."""
    ctx = ReadContext()
    artifacts = ArtifactSet()
    with paused_gc():
        try:
            return _load_files(ctx, artifacts, yaml_files(paths, ctx)), None
        except DslError as exc:
            artifacts.warnings = list(exc.warnings)
            return artifacts, exc


def _load_files(ctx: ReadContext, artifacts: ArtifactSet, files: list[str]) -> ArtifactSet:
    for path in files:
        ctx.file = path
        try:
            # bytes: the loader decodes them and names the line and column of a byte that is not UTF-8
            text = _regular_file_bytes(path)
        except NotARegularFile as exc:
            ctx.error(Origin(path), f"not a regular file: it is {exc.what}", "FileError", path, "a YAML file or a directory of them")
            continue
        except OSError as exc:
            ctx.error(Origin(path), f"cannot read the file: {exc}", "FileError")
            continue
        _load_into(ctx, artifacts, text)
    ctx.file = None
    return _finish(ctx, artifacts)


def yaml_files(paths: list[str], ctx: ReadContext) -> list[str]:
    """The files to read: files as given, directories walked for *.yml/*.yaml in sorted order, leaving out hidden
    ones (.git, .venv, editor files). A file named twice (`. a.yml`, `./a.yml` and `a.yml`) is read once."""
    files = []
    for path in paths:
        if os.path.isdir(path):
            found = []
            for directory, subdirectories, names in os.walk(path):
                subdirectories[:] = sorted(name for name in subdirectories if not name.startswith("."))
                found.extend(os.path.join(directory, name) for name in names if name.endswith(YAML_SUFFIXES) and not name.startswith("."))
            files.extend(sorted(found))
        elif os.path.lexists(path):
            files.append(path)  # a named pipe or a device too: reading it says what it is
        else:
            ctx.error(Origin(path), "no such file or directory", "FileError", path, "a YAML file or a directory of them")
    unique = {}
    for path in files:
        unique.setdefault(os.path.realpath(path), path)
    return list(unique.values())


class NotARegularFile(OSError):
    """A path that names something else than a regular file: `what` it is ("a named pipe")."""

    def __init__(self, what: str):
        super().__init__(f"not a regular file: it is {what}")
        self.what = what


_SPECIAL_FILES = ((stat.S_ISFIFO, "a named pipe"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                  (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a directory"))


def _regular_file_bytes(path: str) -> bytes:
    """The bytes of a regular file; NotARegularFile for anything else. Opened without blocking, and checked again
    once open: a named pipe with a YAML name would otherwise wait forever for a writer."""
    _refuse_special(os.stat(path).st_mode)
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(descriptor, "rb") as handle:
        _refuse_special(os.fstat(descriptor).st_mode)
        return handle.read()


def _refuse_special(mode: int) -> None:
    what = next((what for test, what in _SPECIAL_FILES if test(mode)), None)
    if what:
        raise NotARegularFile(what)


def detect_kind(ctx: ReadContext, mapping: dict, origin: Origin) -> str | None:
    """A document's kind: its `kind:` key, or its shape (clusters: blueprint, deployable: breed, port: gateway...)."""
    if "kind" in mapping:
        kind = normalize_kind(java_text(mapping["kind"]))
        if kind is None:
            ctx.error(ctx.at(origin, mapping, "kind"), "unknown artifact kind", "UnknownArtifactKind", java_text(mapping["kind"]), KINDS_ALLOWED)
        return kind
    kind_type = java_text(mapping["type"]) if "type" in mapping else None
    if "clusters" in mapping:
        return "blueprint"
    if "deployable" in mapping:
        return "breed"
    if "port" in mapping:
        return "gateway"
    if any(key in mapping for key in ("cpu", "memory", "instances")):
        return "scale"
    if kind_type in KNOWN_ESCALATIONS or any(key in mapping for key in GROUP_ESCALATIONS):
        return "escalation"
    if kind_type is not None and any(key in mapping for key in ("threshold", "window", "escalations")):
        return "sla"
    if "condition" in mapping and not any(key in mapping for key in ("weight", "condition_strength", "rewrites", "balance")):
        return "condition"
    if any(key in mapping for key in ("weight", "condition_strength", "rewrites", "balance")):
        return "route"
    ctx.error(origin, "cannot tell what kind of artifact this document is", "UnknownArtifactKind",
              Described("keys " + ", ".join(str(key) for key in list(mapping)[:8])) if mapping else Described("an empty mapping"),
              f"a kind: key ({KINDS_ALLOWED}), or the keys of one (clusters, deployable, port, cpu/memory/instances, ...)")
    return None


def _read_document(ctx: ReadContext, kind: str, mapping: dict, origin: Origin):
    if kind in _NAMED_KINDS and mapping.get("name") is None:
        ctx.missing(mapping, "name", origin, f"a {kind} document needs a name", f"name: <{kind} name>")
    if kind == "breed":
        return read_breed(ctx, mapping, origin)
    if kind == "blueprint":
        return read_blueprint(ctx, mapping, origin)
    if kind == "gateway":
        return read_gateway(ctx, mapping, origin)
    if kind == "sla":
        return read_sla(ctx, mapping, origin)
    if kind == "scale":
        return read_scale(ctx, mapping, origin)
    if kind == "escalation":
        return read_escalation(ctx, mapping, origin)
    if kind == "condition":
        return read_condition(ctx, mapping, origin)
    return read_named_route(ctx, mapping, origin)


def _load_into(ctx: ReadContext, artifacts: ArtifactSet, text: str) -> None:
    try:
        documents = load_yaml_documents(text, ctx.file)
    except YamlSyntaxError as exc:
        ctx.issues.extend(exc)
        documents = exc.documents  # those before the syntax error are still checked
    except DslError as exc:
        ctx.issues.extend(exc)
        return
    for document in documents:
        for key, path, line, column, first_line in document.duplicate_keys:
            ctx.warn(Origin(ctx.file, line, column, path), f"'{key}' is given twice in one mapping (first at line "
                     f"{first_line}); the last one is used, as VAMP does", "DuplicateKey")
        if document.value is None:
            continue
        origin = ctx.root(document.line, document.column)
        mapping = ctx.mapping(document.value, origin, "a document")
        if mapping is None:
            continue
        kind = detect_kind(ctx, mapping, origin)
        if kind is None:
            continue
        artifact = _read_document(ctx, kind, mapping, origin)
        if artifact is None:
            continue
        if not getattr(artifact, "name", None):
            # its missing or illegal name is reported: keep it under the text given, so that the rest of it is
            # checked in this run too (nothing is rendered while there is an error)
            given = mapping.get("name")
            artifact.name = java_text(given) if isinstance(given, (str, int, float)) else f"<{kind} at {ctx.file or 'line'}:{document.line}>"
        name = artifact.name
        table = getattr(artifacts, KINDS[kind])
        if name in table:
            first = table[name].origin
            ctx.error(origin, f"{kind} '{name}' is defined twice; the first is at {first.location()}", "DuplicateArtifactError", name,
                      f"one {kind} per name")
            continue
        table[name] = artifact


def _finish(ctx: ReadContext, artifacts: ArtifactSet) -> ArtifactSet:
    resolve_references(ctx, artifacts)
    for blueprint in artifacts.blueprints.values():
        bind_blueprint(ctx, blueprint)
    for gateway in artifacts.gateways.values():
        bind_standalone_gateway(ctx, gateway, artifacts.blueprints)
    validator = Validator(ctx, strict=True)
    validator.ports_checked_by_caller = True
    deployed = {service.breed.name for blueprint in artifacts.blueprints.values() for cluster in blueprint.clusters for service in cluster.services}
    for blueprint in artifacts.blueprints.values():
        validator.blueprint(blueprint, deployed)
    for table in ("gateways", "breeds", "slas", "escalations", "conditions", "routes"):
        for artifact in getattr(artifacts, table).values():
            validator.artifact(artifact)
    # every gateway with a port is one HAProxy frontend: two may not share a port number
    frontends = list(artifacts.gateways.values()) + [gateway for blueprint in artifacts.blueprints.values() for gateway in blueprint.gateways]
    validator.duplicate_ports(frontends)
    _raise_if_any(ctx)
    artifacts.warnings = list(ctx.issues.warnings)
    return artifacts


def _raise_if_any(ctx: ReadContext) -> None:
    if ctx.issues.issues:
        # the warnings too: a key given twice often explains an error (a repeated weight that breaks the total)
        raise DslError(list(dict.fromkeys(ctx.issues.issues)), warnings=list(ctx.issues.warnings))
