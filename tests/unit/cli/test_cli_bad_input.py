"""Bad input to `drover validate`, `render` and `explain`, as a new user gives it: each is a one-line error (JSON when
asked), never a traceback, a hang or a check of something else than what was asked. The real `haproxy -c` checks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from drover_cli.main import cli

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = str(REPO / "examples" / "sava-canary.yml")
GATEWAY = str(REPO / "examples" / "gateway-external.yml")
NO_ROUTES = "name: lonely\nport: 9101/http\n"
BAD_WEIGHT = "name: a\nport: 9100/http\nroutes:\n  '[127.0.0.1:1]': {weight: 170%}\n"


def run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def one_line_error(result) -> str:
    """The error a failed command printed: one line, no traceback."""
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    return lines[0]


def drover_process(*args, timeout: float = 60):
    """The CLI in a process of its own: a hang fails the test instead of stopping the run."""
    return subprocess.run([sys.executable, "-c", "from drover_cli.main import cli; cli()", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout, check=False)


# -- render -o DIR --check: the directory goes into the configuration haproxy -c reads ----------------------------------


@pytest.mark.parametrize("directory", ["with space", "it's", "hash#cut"])
def test_render_check_accepts_an_output_directory_haproxy_would_split_or_cut(tmp_path, directory):
    target = tmp_path / directory / "haproxy.cfg"
    result = run("render", EXAMPLE, "-o", str(target), "--check", "--bind", "127.0.0.1")
    assert result.exit_code == 0, result.output
    assert "configuration is valid" in result.output and target.exists()


def test_render_check_refuses_an_output_directory_with_a_line_break_before_anything_runs(tmp_path):
    marker = tmp_path / "lua-ran"
    (tmp_path / "x.lua").write_text(f'local f = io.open("{marker}", "w"); f:write("ran"); f:close()\n')
    injected = tmp_path / f"a\nlua-load {tmp_path}/x.lua" / "haproxy.cfg"
    result = run("render", EXAMPLE, "-o", str(injected), "--check")
    assert result.exit_code == 1
    assert "U+000A LINE FEED" in one_line_error(result)
    assert not marker.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["x.lua"]


# -- --template: Jinja2's sandbox, and a one-line error for whatever goes wrong in it ------------------------------------


def test_a_template_runs_in_the_sandbox(tmp_path):
    marker = tmp_path / "ran"
    template = tmp_path / "evil.j2"
    template.write_text("{{ cycler.__init__.__globals__.os.popen('touch " + str(marker) + "').read() }}\n")
    result = run("render", EXAMPLE, "--template", str(template))
    assert result.exit_code == 1 and "unsafe" in one_line_error(result)
    assert not marker.exists()


@pytest.mark.parametrize("source, says", [
    (b"{{ nope }}\n", "line 1: 'nope' is undefined"),
    (b"global\n{{ 1 / 0 }}\n", "line 2: division by zero"),
    (b"\xff\xfe{{ 1 }}\n", "not UTF-8 text (byte 0xff at offset 0)"),
    (b"{% include 'other.j2' %}\n", "include, import and extends are not available"),
    (b"{% if %}\n", "line 1: Expected an expression"),
])
def test_a_broken_template_is_a_one_line_error(tmp_path, source, says):
    template = tmp_path / "t.j2"
    template.write_bytes(source)
    text = run("render", EXAMPLE, "--template", str(template))
    assert text.exit_code == 1 and says in one_line_error(text) and str(template) in text.output
    data = json.loads(run("render", EXAMPLE, "--template", str(template), "--format", "json", "-o", str(tmp_path / "h.cfg")).stdout)
    assert data["valid"] is False and says in data["errors"][0]["message"]


# -- -o: where it cannot write -------------------------------------------------------------------------------------------


def test_render_to_a_path_under_a_file_is_a_one_line_error(tmp_path):
    (tmp_path / "a-file").write_text("")
    result = run("render", EXAMPLE, "-o", str(tmp_path / "a-file" / "haproxy.cfg"))
    assert result.exit_code == 1 and f"{tmp_path / 'a-file'} is a file, not a directory" in one_line_error(result)
    data = json.loads(run("render", EXAMPLE, "-o", str(tmp_path / "a-file" / "x" / "haproxy.cfg"), "--format", "json").stdout)
    assert data["valid"] is False and "is a file, not a directory" in data["errors"][0]["message"]


def test_render_to_a_directory_that_cannot_be_created_is_a_one_line_error():
    # /proc takes no new directories, even from root
    result = run("render", EXAMPLE, "-o", "/proc/drover-test/haproxy.cfg")
    assert result.exit_code == 1 and one_line_error(result).startswith("cannot write /proc/drover-test/haproxy.cfg: cannot create /proc/drover-test")


@pytest.mark.parametrize("output", ["", "out/"])
def test_render_to_an_empty_path_or_a_directory_name_is_a_usage_error(tmp_path, output, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run("render", EXAMPLE, "-o", output).exit_code == 2
    result = run("render", EXAMPLE, "-o", output, "--format", "json")
    assert result.exit_code == 2 and json.loads(result.stdout)["errors"][0]["code"] == "UsageError"
    assert not list(tmp_path.iterdir())


# -- files that are not regular files --------------------------------------------------------------------------------------


def test_validate_does_not_hang_on_a_named_pipe_with_a_yaml_name(tmp_path):
    os.mkfifo(tmp_path / "pipe.yml")
    (tmp_path / "gateway.yml").write_text(Path(GATEWAY).read_text())
    result = drover_process("validate", str(tmp_path))
    assert result.returncode == 1
    assert f"{tmp_path / 'pipe.yml'}: <root>: not a regular file: it is a named pipe" in result.stderr


def test_a_named_pipe_or_a_device_given_directly_is_named_as_what_it_is(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    result = drover_process("validate", "--format", "json", str(tmp_path / "pipe"), "/dev/null")
    messages = {error["file"]: error["message"] for error in json.loads(result.stdout)["errors"]}
    assert result.returncode == 1
    assert messages == {str(tmp_path / "pipe"): "not a regular file: it is a named pipe", "/dev/null": "not a regular file: it is a character device"}


# -- messages ----------------------------------------------------------------------------------------------------------------


def test_a_missing_path_is_an_error_like_the_others_in_json_when_asked(tmp_path):
    result = run("validate", "--format", "json", str(tmp_path / "nope.yml"), GATEWAY)
    assert result.exit_code == 1
    assert [(e["code"], e["message"]) for e in json.loads(result.stdout)["errors"]] == [("FileError", "no such file or directory")]


def test_a_usage_error_is_json_when_json_is_asked():
    for args in (["validate", "--format", "json"], ["explain", "--format=json", "--no-such-option", GATEWAY]):
        result = run(*args)
        data = json.loads(result.stdout)
        assert result.exit_code == 2 and data["valid"] is False and data["errors"][0]["code"] == "UsageError"
    assert "Usage:" in run("validate").output


@pytest.mark.parametrize("make", [lambda p: (p / "empty.yml").write_text("# nothing yet\n---\n") and p / "empty.yml",
                                  lambda p: (p / "empty").mkdir() or p / "empty"])
def test_nothing_to_check_is_not_valid(tmp_path, make):
    path = str(make(tmp_path))
    for command in ("validate", "explain", "render"):
        result = run(command, path, "--format", "json")
        assert result.exit_code == 1 and json.loads(result.stdout)["errors"][0]["code"] == "NoArtifacts", command
    assert "nothing to check: no artifact was found" in run("validate", path).output


def test_explain_shows_the_warnings_validate_shows_and_has_one_json_shape(tmp_path):
    twice = tmp_path / "g.yml"
    twice.write_text("name: g\nport: 9100/http\nport: 9101/http\nroutes: ['[127.0.0.1:1]']\n")
    text = run("explain", str(twice))
    assert text.exit_code == 0 and "warning: " in text.output and "'port' is given twice" in text.output
    fine = json.loads(run("explain", str(twice), "--format", "json").stdout)
    assert fine["valid"] is True and fine["gateways"][0]["port"] == 9101 and "'port' is given twice" in fine["warnings"][0]
    (tmp_path / "h.yml").write_text(BAD_WEIGHT)
    broken = json.loads(run("explain", str(tmp_path), "--format", "json").stdout)
    assert broken["valid"] is False and isinstance(broken["errors"], list) and isinstance(broken["warnings"], list)


def test_render_without_output_names_the_files_it_does_not_write():
    text = run("render", EXAMPLE)
    assert text.exit_code == 0 and "frontend " in text.stdout
    assert "not written without -o" in text.output and "maps/fe_sava_9050_" in text.output
    data = json.loads(run("render", EXAMPLE, "--format", "json").stdout)
    assert data["valid"] is True and data["written"] == []
    assert "frontend " in data["files"]["haproxy.cfg"] and any(name.endswith(".map") for name in data["files"])


# -- --virtual-hosts-bind -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("listener, says", [
    ("127.0.0.1:99999", "the port must be from 1 to 65535"),
    ("127.0.0.1:0", "the port must be from 1 to 65535"),
    ("127.0.0.1:9060", "is also where gateway edge listens (0.0.0.0:9060)"),
])
def test_a_virtual_hosts_listener_on_a_bad_port_or_a_gateways_own_port_is_refused(tmp_path, listener, says):
    result = run("render", GATEWAY, "-o", str(tmp_path / "haproxy.cfg"), "--check", "--virtual-hosts-bind", listener)
    assert result.exit_code == 1
    assert one_line_error(result).startswith("--virtual-hosts-bind: ") and says in result.output
    assert not (tmp_path / "haproxy.cfg").exists()


def test_a_virtual_hosts_listener_on_another_address_of_the_same_port_is_fine(tmp_path):
    result = run("render", GATEWAY, "-o", str(tmp_path / "haproxy.cfg"), "--check", "--bind", "127.0.0.1",
                 "--virtual-hosts-bind", "127.0.0.2:9060")
    assert result.exit_code == 0, result.output


# -- validate: the routing plan's errors in the same run as the reader's ---------------------------------------------------


def test_validate_reports_the_plans_errors_with_the_readers(tmp_path):
    (tmp_path / "a.yml").write_text(BAD_WEIGHT)
    (tmp_path / "b.yml").write_text(NO_ROUTES)
    result = run("validate", str(tmp_path), "--format", "json")
    assert result.exit_code == 1
    assert [(Path(e["file"]).name, e["code"]) for e in json.loads(result.stdout)["errors"]] == [
        ("a.yml", "GatewayRouteWeightError"), ("b.yml", "MissingRoutes")]


def test_what_uses_a_broken_artifact_gets_no_second_misleading_error(tmp_path):
    """The plan of the blueprint as read would add "breed sava:1.1.0 has no port 'webport'" to the port's own error."""
    text = Path(EXAMPLE).read_text()
    second = text.index("webport: 8080/http", text.index("name: sava:1.1.0"))
    (tmp_path / "sava.yml").write_text(text[:second] + "webport: [8080]" + text[second + len("webport: 8080/http"):])
    (tmp_path / "front.yml").write_text("name: front\nport: 9200/http\nroutes:\n  sava/sava/webport: {weight: 100%}\n---\n" + NO_ROUTES)
    errors = json.loads(run("validate", str(tmp_path), "--format", "json").stdout)["errors"]
    assert [Path(e["file"]).name for e in errors] == ["sava.yml", "front.yml"] and errors[-1]["code"] == "MissingRoutes", errors
    assert not any("has no port" in e["message"] for e in errors)
