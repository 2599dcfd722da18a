"""``curifactory.staging``: cfcompile's stage decorators, plus the private helper curifactory's
own tests import from that module (``_missing_signature_inputs``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import cfcompile.stages as _stages
from cfcompile.stages import *  # noqa: F403 - curifactory.staging is cfcompile.stages plus the below
from cfcompile.stages import signature_gaps


def _missing_signature_inputs(
    function: Callable, input_names: list[str], function_inputs: dict[str, Any]
) -> tuple[list[str], list[str]]:
    """curifactory's name and return shape for ``cfcompile.stages.signature_gaps``: the inputs
    the function does not take, and those it takes without a default that were not given."""
    return signature_gaps(function, input_names, function_inputs)


def __getattr__(name: str) -> Any:
    """Anything else of cfcompile.stages (its private names included) under this name too."""
    return getattr(_stages, name)
