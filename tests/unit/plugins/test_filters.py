"""The collection's filters, called directly, and the short-name shim."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError
from ansible.template import trust_as_template

from ansible_collections.drover.fleet.plugins.module_utils.errors import DroverError
from ansible_collections.drover.fleet.plugins.filter.blueprint_load import blueprint_load
from ansible_collections.drover.fleet.plugins.filter.condition_to_acl import condition_to_acl
from ansible_collections.drover.fleet.plugins.filter.routing_explain import routing_explain
from ansible_collections.drover.fleet.plugins.filter.to_haproxy_cfg import to_haproxy_cfg
from ansible_collections.drover.fleet.plugins.filter.to_haproxy_maps import to_haproxy_maps

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = str(REPO / "examples" / "sava-canary.yml")
INVALID = str(Path(__file__).resolve().parents[1] / "data" / "invalid-blueprint.yml")


def test_blueprint_load_returns_plain_data_that_renders_like_the_path():
    data = blueprint_load(EXAMPLE)
    assert data["_type"] == "ArtifactSet"
    assert blueprint_load(data) is data   # the deploy role loads whatever it is given, its own output included
    assert set(data["blueprints"]) == {"sava"}
    assert to_haproxy_cfg(data) == to_haproxy_cfg(EXAMPLE)


def test_blueprint_load_reads_yaml_text():
    text = Path(EXAMPLE).read_text()
    assert blueprint_load(text)["blueprints"].keys() == blueprint_load(EXAMPLE)["blueprints"].keys()


def test_blueprint_load_reads_yaml_text_as_ansible_hands_it_over():
    # a template result or a lookup is Ansible's own str subclass, which libyaml's parser alone refuses
    text = trust_as_template(Path(EXAMPLE).read_text())
    assert str in type(text).__mro__[1:]   # a subclass of str, not str itself
    assert blueprint_load(text)["blueprints"].keys() == {"sava"}


def test_blueprint_load_error_names_file_and_line():
    with pytest.raises(AnsibleFilterError, match=r"invalid-blueprint.yml:21:\d+"):
        blueprint_load(INVALID)


def test_blueprint_load_looks_for_a_relative_path_in_search_first_then_in_the_working_directory(tmp_path, monkeypatch):
    """As the playbooks call it: `search=[playbook_dir]`, and the directory ansible-playbook runs in after it."""
    (tmp_path / "playbooks").mkdir()
    (tmp_path / "sava.yml").write_text(Path(EXAMPLE).read_text())
    (tmp_path / "playbooks" / "sava.yml").write_text(Path(EXAMPLE).read_text().replace("weight: 90%", "weight: 80%", 1))
    monkeypatch.chdir(tmp_path)
    search = [str(tmp_path / "playbooks")]
    in_playbooks, in_cwd = blueprint_load("sava.yml", search=search), blueprint_load("sava.yml")
    assert in_playbooks["blueprints"]["sava"]["origin"]["file"] == str(tmp_path / "playbooks" / "sava.yml")
    assert in_cwd["blueprints"]["sava"]["origin"]["file"] == "sava.yml"
    assert to_haproxy_cfg(in_playbooks) == to_haproxy_cfg(in_cwd)   # weights live in the maps
    assert to_haproxy_maps(in_playbooks) != to_haproxy_maps(in_cwd)
    listed = blueprint_load(["sava.yml"], search=[str(tmp_path / "nowhere")])
    assert listed["blueprints"]["sava"]["origin"]["file"] == "sava.yml"
    with pytest.raises(AnsibleFilterError, match="search must be a list"):
        blueprint_load("sava.yml", search=str(tmp_path))


def test_blueprint_load_rejects_wrong_input_type():
    with pytest.raises(AnsibleFilterError, match="expects YAML text"):
        blueprint_load(42)


def test_to_haproxy_cfg_takes_options_and_instances():
    text = to_haproxy_cfg(EXAMPLE, options={"bind_address": "127.0.0.1"},
                          instances={"sava/sava/sava:1.0.0": [{"slot": 1, "address": "10.199.1.5", "port": 20001}]})
    assert "bind 127.0.0.1:9050" in text
    assert "10.199.1.5:20001" in text


def test_to_haproxy_cfg_rejects_unknown_option():
    with pytest.raises(AnsibleFilterError, match="unknown render option.*no_such_setting"):
        to_haproxy_cfg(EXAMPLE, options={"no_such_setting": 1})


def test_to_haproxy_cfg_rejects_instance_without_port():
    with pytest.raises(AnsibleFilterError, match="slot, address and port"):
        to_haproxy_cfg(EXAMPLE, instances={"sava/sava/sava:1.0.0": [{"slot": 1, "address": "10.0.0.1"}]})


def test_weights_live_only_in_maps():
    maps = to_haproxy_maps(EXAMPLE)
    assert list(maps) and all(name.startswith("maps/") for name in maps)
    cfg = to_haproxy_cfg(EXAMPLE)
    for text in maps.values():
        for line in text.splitlines():
            assert line.split()[0] not in cfg  # the ranges never appear in haproxy.cfg


def test_condition_to_acl():
    result = condition_to_acl("user-agent == Firefox or has cookie beta")
    definitions = [acl["definition"] for acl in result["acls"]]
    assert any("User-Agent" in d and "Firefox" in d for d in definitions)
    assert any("req.cook" in d and "beta" in d for d in definitions)
    assert " or " in result["expression"]
    assert condition_to_acl("user-agent == Firefox or has cookie beta") == result


def test_condition_to_acl_rejects_injection():
    with pytest.raises(AnsibleFilterError, match="invalid condition"):
        condition_to_acl("user-agent == a\nglobal")


def test_routing_explain():
    plans = routing_explain(EXAMPLE)
    assert [plan["port"] for plan in plans] == [9050]
    assert any("50%" in statement for statement in plans[0]["statements"])


def test_short_name_shim_exposes_the_same_filters():
    spec = importlib.util.spec_from_file_location("drover_shim", REPO / "filter_plugins" / "drover.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    filters = module.FilterModule().filters()
    assert filters["to_haproxy_cfg"] is to_haproxy_cfg
    assert set(filters) == {"blueprint_load", "condition_to_acl", "routing_explain", "to_haproxy_cfg", "to_haproxy_maps"}


def test_a_filter_never_imports_another_filter():
    """What filters share lives in plugins/plugin_utils/ (controller-only), as community.crypto keeps it."""
    for path in sorted((REPO / "plugins" / "filter").glob("*.py")):
        assert "plugins.filter" not in path.read_text(), f"{path.name} imports another filter"


def test_engine_errors_reach_playbooks_as_filter_errors_chained_to_their_cause():
    with pytest.raises(AnsibleFilterError, match=r"invalid-blueprint.yml:21:\d+") as caught:
        routing_explain(INVALID)
    assert isinstance(caught.value.__cause__, DroverError)
    with pytest.raises(AnsibleFilterError, match=r"^invalid condition: ") as caught:
        condition_to_acl("user-agent == (")
    assert isinstance(caught.value.__cause__, DroverError)
