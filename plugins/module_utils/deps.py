# -*- coding: utf-8 -*-
# Copyright: drover.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Third-party libraries in module_utils: imported in a guarded block, reported where they are needed.

module_utils run on managed hosts too, where only the standard library is sure to be installed, so importing a
module_util must never fail. A third-party library (numpy, scipy or ddsketch for the SLA and canary code) is imported
in a guarded block that records the import error instead of raising it, as community.crypto does in its
`_cryptography_dep.py`:

    NUMPY = OptionalLibrary("numpy", "numpy >= 1.24")
    with NUMPY.guard():
        import numpy

and the code that needs it says so where it needs it:

    NUMPY.require("to compute percentiles")            # engine, CLI, filters: MissingLibraryError, a DroverError
    NUMPY.check(module, "to compute percentiles")      # modules: fail_json with missing_required_lib's message

ansible-test's sanity `import` test imports every module_util without the collection's third-party libraries: an
unguarded import fails it.
"""

from __future__ import annotations

import sys
import traceback
from contextlib import contextmanager

from ansible_collections.drover.fleet.plugins.module_utils.errors import DroverError


class MissingLibraryError(DroverError):
    """A third-party library that some code needs could not be imported."""

    def __init__(self, library: "OptionalLibrary", reason: str | None = None):
        self.library = library
        self.reason = reason
        needed = f" {reason}" if reason else ""
        super().__init__(f"the Python library {library.requirement} is needed{needed}, but {library.name} cannot be imported by "
                         f"{sys.executable}: {library.error_summary}; install it for that Python (pip install '{library.requirement}')")


class OptionalLibrary:
    """The outcome of one guarded import: whether the library is there, and if not, why."""

    def __init__(self, name: str, requirement: str | None = None):
        self.name = name
        # what pip installs, with a version range when one matters (the import name can differ: PyYAML is `yaml`)
        self.requirement = requirement or name
        self.found = False
        self.error: str | None = None  # the traceback of the failed import

    @contextmanager
    def guard(self):
        """Run the import statements of this library; an ImportError is recorded, anything else is a bug and raises."""
        try:
            yield self
        except ImportError:
            self.error = traceback.format_exc()
        else:
            self.found = True

    @property
    def error_summary(self) -> str:
        """The last line of the import error (`ModuleNotFoundError: No module named 'numpy'`)."""
        lines = (self.error or "").strip().splitlines()
        return lines[-1] if lines else "it was never imported"

    def require(self, reason: str | None = None) -> None:
        """Raise MissingLibraryError unless the library was imported; `reason` completes "is needed ..."."""
        if not self.found:
            raise MissingLibraryError(self, reason)

    def check(self, module, reason: str | None = None) -> None:
        """Fail `module` (an AnsibleModule) the way Ansible's own modules do unless the library was imported;
        `reason` completes "This is required ..."."""
        if self.found:
            return
        # imported here: the engine and the CLI use this file too, and they do not load Ansible
        from ansible.module_utils.basic import missing_required_lib
        module.fail_json(msg=missing_required_lib(self.requirement, reason=reason), exception=self.error)
