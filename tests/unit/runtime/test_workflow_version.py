"""A compiled version as the runtime reads it (``runtime.workflow_version``)."""

from __future__ import annotations

import pytest

from cfcompile.core.workdir import current_version
from cfcompile.errors import RecompileError
from cfcompile.runtime import workflow_version


def test_a_compiled_version_opens_with_its_sets_nodes_and_stages(chain):
    root, workdir, _ = chain
    opened = workflow_version.WorkflowVersion(workdir)  # the workflow folder: its current version
    assert opened.version == current_version(workdir)
    name, key = opened.info.param_sets[0]
    assert opened.params(key).name == name == "s0"
    node = opened.node(("first", key))
    assert opened.spec(node).name == "first" and node.targets()[0].endswith("_first_a.json")
    with pytest.raises(RecompileError, match="no node"):
        opened.node(("first", "abc"))
    with pytest.raises(RecompileError, match="not in this workflow"):
        opened.params("abc")
