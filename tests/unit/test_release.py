"""The version, written once (``cfcompile.release``)."""

from __future__ import annotations

from importlib import metadata

import cfcompile as cf
from cfcompile import release


def test_the_release_is_the_installed_distribution_version():
    assert release.__version__ == cf.__version__ == metadata.version("cfcompile")
