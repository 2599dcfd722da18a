"""``curifactory.utils`` for cfcompile: the configuration file and curifactory's small helpers.

``curifactory_config.json`` in the project root moves a project's folders (experiment and
parameter modules, cache, reports, logs, ...). ``get_configuration()`` reads it exactly as
curifactory 0.20.5 does (from the working directory or up to three parents, missing keys
filled in with the defaults, ``*_path`` values prefixed with ``../`` for each level climbed),
so code that calls it gets the same answer under either tool. cfcompile itself knows its
project root and uses ``read_configuration(root)`` instead, which also checks the file and
says what is wrong with it.

The helpers are curifactory's pure ones, with their behaviour kept (``get_command_output``
drops the last two characters of the output, as curifactory's does). Standard library only:
the job runtime imports this module through the ``curifactory`` alias, and curifactory's
rich-based ``init_logging`` is deliberately not offered.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import shutil
import subprocess
from pathlib import Path
from typing import Any

from cfcompile.caching import Lazy
from cfcompile.errors import ProjectError

TIMESTAMP_FORMAT = "%Y-%m-%d-T%H%M%S"
"""The datetime format of timestamps in run reference names."""
CONFIGURATION_FILE = "curifactory_config.json"
"""The configuration file's name, in the project root."""
EDITORS = ["vim", "nvim", "emacs", "nano", "vi"]
"""Editors tried, in order, by ``get_editor``."""
OBJECT_PREVIEW_STRING_LENGTH = 30

DEFAULTS: dict[str, str] = {
    "experiments_module_name": "experiments",
    "params_module_name": "params",
    "manager_cache_path": "data/",
    "cache_path": "data/cache",
    "runs_path": "data/runs",
    "logs_path": "logs/",
    "notebooks_path": "notebooks/",
    "reports_path": "reports/",
    "report_css_path": "reports/style.css",
}
"""curifactory 0.20.5's defaults for every configuration key."""

MODULE_KEYS = ("experiments_module_name", "params_module_name")


class ConfigurationError(ProjectError, ValueError):
    """``curifactory_config.json`` is unreadable or holds a value cfcompile cannot use (a
    ValueError too: curifactory raises json's ValueError for a file that is not JSON)."""


def get_configuration() -> dict[str, str]:
    """The configuration as curifactory reads it: ``curifactory_config.json`` in the working
    directory or up to three parents, defaults for missing keys; ``*_path`` values are
    prefixed with ``../`` per level climbed so they stay right from a subfolder (module names
    are not: those need the project root as working directory, as in curifactory)."""
    prefix = ""
    for _ in range(3):
        if os.path.exists(f"{prefix}{CONFIGURATION_FILE}"):
            break
        prefix += "../"
    path = f"{prefix}{CONFIGURATION_FILE}"
    if not os.path.exists(path):
        return dict(DEFAULTS)
    config = _parse(Path(path))
    for key in config:
        if key.endswith("_path"):
            config[key] = f"{prefix}{config[key]}"
    return config


def read_configuration(root: str | os.PathLike) -> dict[str, str]:
    """The configuration of the project at ``root`` (defaults if it has no file), checked."""
    path = Path(root) / CONFIGURATION_FILE
    return _parse(path) if path.is_file() else dict(DEFAULTS)


def _parse(path: Path) -> dict[str, Any]:
    """Read and check one configuration file; every message names the file and the fix."""
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ConfigurationError(
            f"{path} is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}): "
            'write an object such as {"cache_path": "data/cache"}'
        ) from None
    if not isinstance(data, dict):
        raise ConfigurationError(
            f"{path} holds a JSON {type(data).__name__}, not an object: write "
            '{"key": "value", ...} with keys among ' + ", ".join(DEFAULTS)
        )
    for key in DEFAULTS:
        if key in data and not isinstance(data[key], str):
            raise ConfigurationError(
                f"{path}: '{key}' is {data[key]!r}; it must be a string such as {DEFAULTS[key]!r}"
            )
    for key in MODULE_KEYS:
        value = data.get(key)
        if value is not None and not _module_name(value):
            dotted = ".".join(p for p in value.replace("\\", "/").split("/") if p)
            raise ConfigurationError(
                f"{path}: '{key}' is {value!r}, which is not a module name; name subfolders "
                f"with dots, as in curifactory: {dotted!r}"
            )
    return {**DEFAULTS, **data}


def _module_name(value: str) -> bool:
    return bool(value) and all(part.isidentifier() for part in value.split("."))


def get_editor() -> str:
    """A text editor: ``$EDITOR``, else the first of ``EDITORS`` found, else notepad."""
    if "EDITOR" in os.environ:
        return os.environ["EDITOR"]
    for editor in EDITORS:
        if shutil.which(editor) is not None:
            return editor
    if os.name == "nt":
        return "notepad"
    raise RuntimeError("No valid text editor could be found.")


def human_readable_mem_usage(byte_count: int) -> str:
    """``1500`` -> ``"1.50KB"``: bytes with a B/KB/MB/GB suffix (powers of 1000)."""
    sign = "-" if byte_count < 0 else ""
    count: float = abs(byte_count)
    suffix = "B"
    for limit, name in ((10**9, "GB"), (10**6, "MB"), (10**3, "KB")):
        if count > limit:
            count, suffix = count / limit, name
            break
    return f"{sign}{count:.2f}{suffix}"


def human_readable_time(seconds: float) -> str:
    """``90`` -> ``"1.50m"``: seconds with an h/m/s/ms/us/ns suffix."""
    if seconds > 3600:
        return f"{seconds / 3600:.2f}h"
    if seconds > 60:
        return f"{seconds / 60:.2f}m"
    if seconds < 0.0000001:
        return f"{seconds * 10**9:.2f}ns"
    if seconds < 0.0001:
        return f"{seconds * 10**6:.2f}us"
    if seconds < 0.1:
        return f"{seconds * 10**3:.2f}ms"
    return f"{seconds:.2f}s"


def get_command_output(cmd: list[str], silent: bool = False) -> str:
    """The command's stdout minus its last two characters (curifactory's exact behaviour,
    kept so that values such as the recorded git commit compare equal); ``""`` when the
    command fails or cannot be started."""
    try:
        done = subprocess.run(cmd, capture_output=True)
    except Exception:  # noqa: BLE001 - curifactory swallows every failure to start
        if not silent:
            logging.warning("Unable to run command '%s'", cmd)
        return ""
    return done.stdout.decode("utf-8")[:-2] if done.returncode == 0 else ""


def run_command(cmd: list[str]) -> None:
    """Run a command, printing its output line by line as it comes."""
    logging.debug("Running command '%s'", cmd)
    print(*cmd)
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, bufsize=1, text=True) as proc:
        for line in proc.stdout:
            print(line, end="")


def get_current_commit() -> str:
    """``git rev-parse HEAD`` as curifactory records it (from the working directory)."""
    if not os.path.exists(".git"):
        return "No git repository found"
    return get_command_output(["git", "rev-parse", "HEAD"])


def check_git_dirty_workingdir() -> bool:
    """Whether the working directory has uncommitted changes (True outside a repository)."""
    if not os.path.exists(".git"):
        return True
    return get_command_output(["git", "diff", "--stat"]) != ""


def get_pip_freeze() -> str:
    return get_command_output(["pip", "freeze"])


def get_conda_env() -> str:
    """``conda env export --from-history`` (or mamba's, micromamba's), ``""`` without one."""
    for tool in ("conda", "mamba", "micromamba"):
        output = get_command_output([tool, "env", "export", "--from-history"], True)
        if output:
            return output[:-7]  # curifactory trims the same trailing characters
    logging.warning("Unable to run conda or similar command")
    return ""


def get_conda_list() -> str:
    return get_command_output(["conda", "list"])


def get_os() -> str:
    return str(platform.platform())


def get_py_opening_comment(lines: list[str]) -> str:
    """The module docstring at the top of a file's ``lines``, on one line (``""`` if none)."""
    first = lines[0] if lines else ""
    if len(first) <= 3 or not first.startswith(('"""', "'''")):
        return ""
    rest = first[3:]
    end = _quote_index(rest)
    if end is not None:
        content = rest[:end]
    else:
        content = rest
        for line in lines[1:]:
            end = _quote_index(line)
            if end is not None:
                content += " " + line[:end]
                break
            content += " " + line
    content = content.replace("\n", " ")
    while "  " in content:
        content = content.replace("  ", " ")
    return content


def _quote_index(line: str) -> int | None:
    for quote in ('"""', "'''"):
        if quote in line:
            return line.index(quote)
    return None


def set_logging_prefix(prefix: str) -> None:
    """Put ``prefix`` into every log record as ``%(prefix)s`` (curifactory's log formats use it)."""
    factory = logging.getLogRecordFactory()
    if isinstance(factory, PrefixedLogFactory):
        factory.prefix = prefix
    else:
        logging.setLogRecordFactory(PrefixedLogFactory(factory, prefix))


class PrefixedLogFactory:
    """A log record factory adding ``prefix``; installed once, then only its prefix changes
    (wrapping factory in factory on every call would grow a chain without end)."""

    def __init__(self, original_factory: Any, prefix: str):
        self.original_factory = original_factory
        self.prefix = prefix

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.original_factory(*args, **kwargs)
        record.prefix = self.prefix
        return record


def preview_object(object: Any) -> str:  # curifactory's parameter name, kept for keywords
    """``(type) first characters`` plus shape or length: one line about any value."""
    obj = object
    if isinstance(obj, Lazy) and obj.cacher is not None:
        return obj.cacher.load_metadata()["preview"]
    text = str(obj)
    preview = f"({type(obj).__name__}) {text[:OBJECT_PREVIEW_STRING_LENGTH]}"
    if len(text) > OBJECT_PREVIEW_STRING_LENGTH:
        preview += "..."
    if hasattr(obj, "shape"):
        shape = obj.shape() if callable(obj.shape) else obj.shape
        preview += f" shape: {shape}"
    elif hasattr(obj, "__len__"):
        preview += f" len: {len(obj)}"
    return preview


class StreamToLogger:
    """A file-like object that logs what is written to it, line by line, at ``level``."""

    def __init__(self, level: int):
        self.level = level

    def write(self, buf: str) -> None:
        for line in buf.rstrip().splitlines():
            logging.log(self.level, line.rstrip())

    def flush(self) -> None:
        pass
