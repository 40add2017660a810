"""The drover CLI's blueprint commands, through click's runner, with the real `haproxy -c`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from drover_cli.main import cli

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = str(REPO / "examples" / "sava-canary.yml")
INVALID = str(Path(__file__).resolve().parents[1] / "data" / "invalid-blueprint.yml")


def run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.mark.parametrize("example", sorted(str(p.relative_to(REPO)) for p in (REPO / "examples").rglob("*.yml")))
def test_validate_accepts_every_example(example):
    # each example alone, as a user starting from one of them reads it
    result = run("validate", str(REPO / example))
    assert result.exit_code == 0, result.output
    assert result.output.startswith("valid:")


def test_validate_accepts_the_examples_together():
    # one port per gateway across them, so the whole folder is one fleet (tests/unit/dsl checks the ports and plan)
    result = run("validate", str(REPO / "examples"))
    assert result.exit_code == 0, result.output
    assert result.output.startswith("valid:")


def test_validate_reports_gateway_port_clash_across_files(tmp_path):
    for name in ("a", "b"):
        (tmp_path / f"{name}.yml").write_text(f"name: {name}\nport: 9050/http\nroutes:\n  '[127.0.0.1:80{name == 'b' and 1 or 0}0]':\n    weight: 100%\n")
    result = run("validate", str(tmp_path))
    assert result.exit_code == 1
    assert "9050" in result.output


def test_validate_lists_every_error_with_location():
    result = run("validate", INVALID)
    assert result.exit_code == 1
    # three independent mistakes, all reported at once, each with file:line:column and dotted path
    assert "invalid-blueprint.yml:14:" in result.output and "memory" in result.output
    assert "invalid-blueprint.yml:18:" in result.output and "sticky" in result.output
    assert "invalid-blueprint.yml:21:" in result.output and "weight" in result.output


def test_validate_json_output_is_machine_readable():
    result = run("validate", "--format", "json", INVALID)
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert data["valid"] is False
    assert {issue["line"] for issue in data["errors"]} >= {14, 18, 21}
    assert all(issue["file"].endswith("invalid-blueprint.yml") for issue in data["errors"])


def test_render_check_writes_config_and_maps_haproxy_accepts(tmp_path):
    target = tmp_path / "new" / "haproxy.cfg"   # a directory that does not exist yet
    result = run("render", EXAMPLE, "-o", str(target), "--check", "--bind", "127.0.0.1")
    assert result.exit_code == 0, result.output
    assert "configuration is valid" in result.output
    text = target.read_text()
    assert "bind 127.0.0.1:9050" in text
    maps = list((tmp_path / "new" / "maps").glob("*.map"))
    assert maps and "0:8999" in maps[0].read_text()


def test_render_check_fails_when_haproxy_rejects(tmp_path):
    template = tmp_path / "broken.j2"
    template.write_text("global\n    this-is-not-a-directive\n")
    live = tmp_path / "haproxy.cfg"
    live.write_text("# the configuration that runs\n")
    result = run("render", EXAMPLE, "-o", str(live), "--check", "--template", str(template))
    assert result.exit_code == 1
    assert "this-is-not-a-directive" in result.output or "unknown keyword" in result.output
    # checked before anything is written: the file at -o and the maps beside it stay as they were
    assert "nothing was written" in result.output
    assert live.read_text() == "# the configuration that runs\n" and not (tmp_path / "maps").exists()


def test_render_reports_the_engines_warnings_and_serves_virtual_hosts_when_given_a_listener(tmp_path):
    gateway = REPO / "examples" / "gateway-external.yml"
    without = run("render", str(gateway), "-o", str(tmp_path / "a.cfg"), "--format", "json")
    assert without.exit_code == 0 and "virtual hosts are not served" in json.loads(without.stdout)["warnings"][0]
    served = run("render", str(gateway), "-o", str(tmp_path / "b.cfg"), "--check", "--virtual-hosts-bind", "127.0.0.1:8080")
    assert served.exit_code == 0, served.output
    assert "warning:" not in served.output and "bind 127.0.0.1:8080" in (tmp_path / "b.cfg").read_text()


def test_render_names_the_cookie_key_variable_for_a_sticky_instance_gateway(tmp_path, monkeypatch):
    sticky = str(REPO / "examples" / "sticky-instance.yml")
    monkeypatch.delenv("DROVER_DYNAMIC_COOKIE_KEY", raising=False)
    refused = run("render", sticky, "-o", str(tmp_path / "haproxy.cfg"))
    assert refused.exit_code != 0 and "DROVER_DYNAMIC_COOKIE_KEY" in refused.output
    monkeypatch.setenv("DROVER_DYNAMIC_COOKIE_KEY", "a-stable-secret")
    rendered = run("render", sticky, "-o", str(tmp_path / "haproxy.cfg"), "--check")
    assert rendered.exit_code == 0, rendered.output
    assert "dynamic-cookie-key a-stable-secret" in (tmp_path / "haproxy.cfg").read_text()


def test_render_to_stdout_is_deterministic():
    first, second = run("render", EXAMPLE), run("render", EXAMPLE)
    assert first.exit_code == 0
    assert first.output == second.output
    assert "frontend " in first.output


def test_explain_says_conditions_weights_and_stickiness():
    result = run("explain", EXAMPLE)
    assert result.exit_code == 0, result.output
    assert "user-agent == Chrome" in result.output and "50%" in result.output
    assert "90%" in result.output and "10%" in result.output
    assert "sticky route" in result.output


def test_explain_json():
    result = run("explain", "--format", "json", EXAMPLE)
    data = json.loads(result.output)
    weights = {entry["percent"] for entry in data["gateways"][0]["weights"]}
    assert weights == {90.0, 10.0}


def test_a_duplicate_key_warning_comes_with_the_error_it_explains_and_with_render(tmp_path):
    broken = tmp_path / "g.yml"
    broken.write_text("name: g\nport: 9100/http\nroutes:\n  '[127.0.0.1:1]': {weight: 70%, weight: 80%}\n  '[127.0.0.1:2]': {weight: 30%}\n")
    result = run("validate", str(broken), "--format", "json")
    data = json.loads(result.stdout)
    assert result.exit_code == 1 and [e["code"] for e in data["errors"]] == ["GatewayRouteWeightError"]
    assert [w["code"] for w in data["warnings"]] == ["DuplicateKey"] and data["warnings"][0]["line"] == 4
    assert "and warnings:" in run("validate", str(broken)).output
    fine = tmp_path / "h.yml"
    fine.write_text("name: h\nport: 9100/http\nport: 9101/http\nroutes: ['[127.0.0.1:1]']\n")
    rendered = run("render", str(fine), "-o", str(tmp_path / "out" / "haproxy.cfg"), "--format", "json")
    assert rendered.exit_code == 0 and "'port' is given twice" in json.loads(rendered.stdout)["warnings"][0]


def test_validate_refuses_what_render_would_refuse(tmp_path):
    """The routing plan is checked too (once the artifacts read cleanly): a gateway with no routes."""
    (tmp_path / "g.yml").write_text("name: g\nport: 9100/http\n")
    result = run("validate", str(tmp_path / "g.yml"), "--format", "json")
    assert result.exit_code == 1 and [error["code"] for error in json.loads(result.stdout)["errors"]] == ["MissingRoutes"]
