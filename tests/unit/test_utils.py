"""``curifactory.utils`` for cfcompile (``cfcompile.utils``): the configuration file read as
curifactory reads it, and curifactory's small helpers."""

from __future__ import annotations

import logging

import pytest

from cfcompile import utils
from cfcompile.utils import ConfigurationError


def test_the_configuration_is_read_from_here_or_a_parent_with_paths_climbing(tmp_path, monkeypatch):
    (tmp_path / "curifactory_config.json").write_text(
        '{"cache_path": "store/cache", "experiments_module_name": "src.exps"}'
    )
    sub = tmp_path / "notebooks" / "deep"
    sub.mkdir(parents=True)
    monkeypatch.chdir(sub)
    config = utils.get_configuration()
    assert config["cache_path"] == "../../store/cache"  # right from the subfolder
    assert config["experiments_module_name"] == "src.exps"  # a module name: not prefixed
    assert config["reports_path"] == "../../reports/"  # a default, prefixed like the rest
    assert utils.read_configuration(tmp_path)["cache_path"] == "store/cache"
    assert utils.read_configuration(tmp_path / "nothing") == utils.DEFAULTS


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "is not valid JSON"),
        ("[1, 2]", "holds a JSON list, not an object"),
        ('{"cache_path": 3}', "'cache_path' is 3; it must be a string"),
        ('{"params_module_name": "src/params"}', "not a module name.*'src.params'"),
    ],
    ids=["not-json", "a-list", "a-number", "a-path"],
)
def test_a_bad_configuration_names_the_file_and_the_fix(tmp_path, text, message):
    (tmp_path / "curifactory_config.json").write_text(text)
    with pytest.raises(ConfigurationError, match=message):
        utils.read_configuration(tmp_path)


def test_curifactorys_small_helpers():
    assert utils.human_readable_mem_usage(1500) == "1.50KB"
    assert utils.human_readable_mem_usage(-2_500_000) == "-2.50MB"
    assert utils.human_readable_time(90) == "1.50m" and utils.human_readable_time(0.05) == "50.00ms"
    assert utils.human_readable_time(7200) == "2.00h" and utils.human_readable_time(2) == "2.00s"
    lines = ['"""First line', "second line.", '"""', "import x"]
    assert utils.get_py_opening_comment(lines) == "First line second line. "  # as curifactory
    assert utils.get_py_opening_comment(['"""One."""']) == "One."
    assert utils.get_py_opening_comment(["import x"]) == ""
    assert utils.preview_object([1, 2, 3]) == "(list) [1, 2, 3] len: 3"
    assert utils.preview_object("x" * 40) == f"(str) {'x' * 30}... len: 40"
    assert utils.get_command_output(["sh", "-c", "echo hello"]) == "hell"  # curifactory's [:-2]
    assert utils.get_command_output(["no-such-command-here"], silent=True) == ""


def test_the_logging_prefix_is_set_once_and_then_changed(caplog):
    before = logging.getLogRecordFactory()
    try:
        utils.set_logging_prefix("[a]")
        installed = logging.getLogRecordFactory()
        utils.set_logging_prefix("[b]")
        assert logging.getLogRecordFactory() is installed  # no factory wrapped in a factory
        record = logging.getLogger("cfcompile.test").makeRecord("n", 20, "f", 1, "m", (), None)
        assert record.prefix == "[b]"
        with caplog.at_level(logging.INFO):
            utils.StreamToLogger(logging.INFO).write("one\ntwo  \n")
        assert [r.getMessage() for r in caplog.records][-2:] == ["one", "two"]
    finally:
        logging.setLogRecordFactory(before)
