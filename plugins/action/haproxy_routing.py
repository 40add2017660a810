# -*- coding: utf-8 -*-
# Copyright: drover.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of drover.fleet.haproxy_routing: render on the controller, apply with haproxy_config on the target."""

from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.drover.fleet.plugins.module_utils.errors import DroverError, DslError
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.cfg_scan import SECRET_DIRECTIVE
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.config_args import passed_on_spec
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.parts import check_part_name
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.rejections import input_issues
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.render import RenderOptions, render_parts
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.render_inputs import RENDER_OPTION_NAMES, instances_from_data, render_options_from_data
from ansible_collections.drover.fleet.plugins.module_utils.routing.plan import DEFAULT_SLOTS
from ansible_collections.drover.fleet.plugins.module_utils.dsl.sources import load_source

MASK = "********"
_EXPLICIT_RENDER_OPTIONS = {"admin_socket", "server_state_file", "bind_address", "default_slots", "dynamic_cookie_key", "stats_bind"}

# the options this action takes itself, to render
RENDER_SPEC = {
    "artifacts": {"type": "raw", "required": True},
    "instances": {"type": "dict", "default": {}},
    "server_state_file": {"type": "path", "default": "/var/lib/haproxy/server-state"},
    "bind_address": {"type": "str", "default": "0.0.0.0"},
    "default_slots": {"type": "int", "default": DEFAULT_SLOTS},
    "dynamic_cookie_key": {"type": "str", "no_log": True},
    "stats_bind": {"type": "str"},
    "render_options": {"type": "dict", "default": {}},
    "parts": {"type": "list", "elements": "str"},
    "conflicts_only": {"type": "bool", "default": False},
}
# ... and the options of haproxy_config it passes on unchanged, from haproxy_config's own spec
ARGUMENT_SPEC = dict(passed_on_spec().argument_spec, **RENDER_SPEC)


def mask_secrets(value, secrets: list):
    """A copy of `value` with every secret, and the value of every `dynamic-cookie-key` line, replaced by MASK."""
    if isinstance(value, dict):
        return {key: mask_secrets(item, secrets) for key, item in value.items()}
    if isinstance(value, list):
        return [mask_secrets(item, secrets) for item in value]
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, MASK)
        return SECRET_DIRECTIVE.sub(r"\g<1>" + MASK, value)
    return value


def render_options(args: dict) -> RenderOptions:
    """RenderOptions from the task's own options plus `render_options`, which may not repeat them."""
    extra = dict(args["render_options"] or {})
    repeated = sorted(set(extra) & _EXPLICIT_RENDER_OPTIONS)
    if repeated:
        raise DroverError(f"render_options: unknown setting(s) {', '.join(repeated)} (set them as options of this task); allowed: "
                          f"{', '.join(sorted(RENDER_OPTION_NAMES - _EXPLICIT_RENDER_OPTIONS))}")
    return render_options_from_data(dict(
        extra, bind_address=args["bind_address"], admin_socket=args["admin_socket"], server_state_file=args["server_state_file"],
        default_slots=args["default_slots"], dynamic_cookie_key=args["dynamic_cookie_key"] or None, stats_bind=args["stats_bind"] or None))


def _parts_to_write(wanted: list | None, rendered: dict) -> list:
    """The parts this run writes: `wanted` (a part rendered from nothing is removed), or every rendered part."""
    if wanted is None:
        return sorted(rendered)
    for name in wanted:
        check_part_name(name)
    return sorted(set(wanted))


class ActionModule(ActionBase):
    """Render with the engine on the controller, then run drover.fleet.haproxy_config on the target."""

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(ARGUMENT_SPEC).union(*(spec.get("aliases", ()) for spec in ARGUMENT_SPEC.values()))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        secrets = [args["dynamic_cookie_key"]] if args["dynamic_cookie_key"] else []
        try:
            rendered = render_parts(load_source(args["artifacts"], search=[self._loader.get_basedir()]), render_options(args),
                                    instances_from_data(args["instances"]))
            written = _parts_to_write(args["parts"], rendered.parts)
        except DroverError as exc:
            raise AnsibleActionFail(mask_secrets(str(exc), secrets)) from None
        # by their own names: the validated arguments repeat an alias's value under the alias
        module_args = {key: value for key, value in args.items() if key in ARGUMENT_SPEC and key not in RENDER_SPEC}
        # the module masks the secrets in its own output too, which the connection plugin prints raw at -vvv
        module_args.update(head=rendered.head, parts={name: rendered.parts.get(name) for name in written}, conflicts_only=args["conflicts_only"],
                           part_maps={name: rendered.maps[name] for name in written if name in rendered.maps}, secrets=secrets)
        module_result = self._execute_module(module_name="drover.fleet.haproxy_config", module_args=module_args, task_vars=task_vars)
        if module_result.get("failed") and module_result.get("haproxy_message") and module_result.get("refused_lines"):
            # `haproxy -c` names lines of a candidate that was never written: name the conditions and rewrites in the input
            issues = input_issues(module_result["haproxy_message"], rendered, module_result["refused_lines"])
            if issues:
                module_result["msg"] = str(DslError(issues))
        result.update(module_result)
        result["parts"] = sorted(written)
        result["rendered_files"] = sorted({"haproxy.cfg"} | {rel for name in written for rel in rendered.maps.get(name, {})})
        if rendered.warnings:
            result.setdefault("warnings", []).extend(rendered.warnings)
        # the module's own invocation echoes the whole content; the task's arguments are what people want to see
        result.pop("invocation", None)
        return mask_secrets(result, secrets)
