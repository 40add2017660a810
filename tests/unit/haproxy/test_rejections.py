"""What the real `haproxy -c` refuses in a rendered configuration, named at the YAML that produced it."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from ansible_collections.drover.fleet.plugins.module_utils.errors import DslError
from ansible_collections.drover.fleet.plugins.module_utils.dsl.reader import load_paths
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.rejections import check_rendered, input_issues
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.render import RenderOptions, render

from drover_cli.main import cli

pytestmark = pytest.mark.skipif(shutil.which("haproxy") is None, reason="HAProxy is not installed: run `make setup`")

# a raw ACL and a rewrite condition that drover passes on and HAProxy 2.6 refuses (no matching method 'foo')
GATEWAY = """name: rawacl
port: 9076/http
routes:
  "[127.0.0.1:8081]":
    weight: 50%
    condition: "<hdr_sub(user-agent) -m foo bar>"
  "[127.0.0.1:8082]":
    weight: 50%
    rewrites:
      - path: "/x if { path_beg -m foo /a }"
"""


def rendered_from(tmp_path, text: str = GATEWAY):
    source = tmp_path / "gateway.yml"
    source.write_text(text)
    return str(source), render(load_paths([str(source)]), RenderOptions())


def test_a_refused_raw_acl_and_rewrite_are_named_at_the_yaml(tmp_path):
    source, rendered = rendered_from(tmp_path)
    with pytest.raises(DslError) as caught:
        check_rendered(str(tmp_path / "haproxy.cfg"), rendered)
    # HAProxy also refuses the rule that names the refused ACL ("no such ACL"): the same mistake, reported once
    assert [(issue.origin.file, issue.origin.line, issue.origin.column, issue.origin.path, issue.code) for issue in caught.value.issues] == [
        (source, 6, 16, "routes[[127.0.0.1:8081]].condition", "HaproxyRejectedError"),
        (source, 10, 15, "routes[[127.0.0.1:8082]].rewrites[0].path", "HaproxyRejectedError"),
    ]
    acl, rewrite = caught.value.issues
    assert acl.message == "haproxy -c refuses the ACL of this condition: unknown matching method 'foo' when parsing ACL expression"
    assert acl.found == "'hdr_sub(user-agent) -m foo bar'" and rewrite.found == "'/x if { path_beg -m foo /a }'"
    assert "haproxy.cfg" not in str(caught.value)


def test_a_configuration_haproxy_accepts_passes_and_refusals_not_from_the_input_stay_as_they_are(tmp_path):
    _source, rendered = rendered_from(tmp_path, GATEWAY.replace("-m foo ", ""))
    assert "Configuration file is valid" in check_rendered(str(tmp_path / "haproxy.cfg"), rendered)
    output = f"[ALERT]    (1) : config : parsing [{tmp_path}/haproxy.cfg:3] : unknown keyword 'bogus' in 'global' section\n"
    assert input_issues(output, rendered) == []


def test_drover_render_check_reports_a_refused_raw_acl_at_the_yaml_and_writes_nothing(tmp_path):
    source, _rendered = rendered_from(tmp_path)
    output = tmp_path / "out" / "haproxy.cfg"
    result = CliRunner().invoke(cli, ["render", source, "-o", str(output), "--check"])
    assert result.exit_code == 1 and not output.exists()
    assert f"{source}:6:16: routes[[127.0.0.1:8081]].condition: haproxy -c refuses the ACL of this condition" in result.output
    result = CliRunner().invoke(cli, ["render", source, "-o", str(output), "--check", "--format", "json"])
    errors = json.loads(result.output)["errors"]
    assert result.exit_code == 1 and [(error["line"], error["column"]) for error in errors] == [(6, 16), (10, 15)]
