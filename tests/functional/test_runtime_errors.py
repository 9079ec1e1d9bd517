"""A handler that cannot be loaded fails its init as Lambda's Python runtime reports it (awslambdaric's
bootstrap): the same error types and messages, and only the function's own frames in the trace."""

from __future__ import annotations

import sys
import textwrap
import uuid
from typing import TYPE_CHECKING

import pytest

from orderflow_local.lambda_runtime.environment import EnvironmentPool, FunctionConfig
from orderflow_local.lambda_runtime.runtime import HandlerInitError, check_handler, load_handler

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

#: Frames of the local runtime and of what runs it, which a function's trace never shows.
NOT_THE_FUNCTIONS = ("orderflow_local", "importlib", "multiprocessing", "runtime.py")


@pytest.fixture
def module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], str]]:
    """Write a module of the given source in a directory on sys.path; return its (unique) name."""
    monkeypatch.syspath_prepend(str(tmp_path))
    before = set(sys.modules)

    def write(source: str) -> str:
        name = f"fn_{uuid.uuid4().hex[:10]}"
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
        return name

    yield write
    for name in set(sys.modules) - before:
        del sys.modules[name]


def _init_error(spec: str) -> HandlerInitError:
    with pytest.raises(HandlerInitError) as raised:
        load_handler(spec)
    return raised.value


def test_a_syntax_error_is_the_users_file_and_line(module: Callable[[str], str], tmp_path: Path) -> None:
    name = module(
        """\
        def handle(event, context):
            return {
        """
    )
    error = _init_error(f"{name}.handle")
    assert error.error_type == "Runtime.UserCodeSyntaxError"
    assert error.message == f"Syntax error in module '{name}': '{{' was never closed ({name}.py, line 2)"
    assert error.stack_trace == [f'  File "{tmp_path / name}.py" Line 2\n        return {{']
    assert error.text().splitlines() == [
        f"Runtime.UserCodeSyntaxError: {error.message}",
        "Traceback (most recent call last):",
        f'  File "{tmp_path / name}.py" Line 2',
        "        return {",
    ]


def test_a_syntax_error_in_a_module_the_handler_imports_names_that_file(module: Callable[[str], str]) -> None:
    broken = module("x = (\n")
    name = module(f"import {broken}\n\ndef handle(event, context):\n    return None\n")
    error = _init_error(f"{name}.handle")
    assert error.error_type == "Runtime.UserCodeSyntaxError"
    assert error.message.startswith(f"Syntax error in module '{name}': ")
    assert f"({broken}.py, line 1)" in error.message
    [frame] = error.stack_trace
    assert f"{broken}.py" in frame


def test_a_module_that_is_not_there() -> None:
    error = _init_error("no_such_module_here.handle")
    assert error.error_type == "Runtime.ImportModuleError"
    assert error.message == "Unable to import module 'no_such_module_here': No module named 'no_such_module_here'"
    assert error.stack_trace == []  # as Lambda: the import's frames are not the function's
    assert error.text() == f"Runtime.ImportModuleError: {error.message}"


def test_a_dependency_that_is_not_there_names_the_handlers_module(module: Callable[[str], str]) -> None:
    name = module("import not_installed_dependency_x\n\ndef handle(event, context):\n    return None\n")
    error = _init_error(f"{name}.handle")
    assert error.error_type == "Runtime.ImportModuleError"
    assert error.message == f"Unable to import module '{name}': No module named 'not_installed_dependency_x'"


def test_a_function_that_is_not_in_the_module(module: Callable[[str], str]) -> None:
    name = module("def handle(event, context):\n    return None\n")
    for spec in (f"{name}.nope", f"{name}:nope"):
        error = _init_error(spec)
        assert error.error_type == "Runtime.HandlerNotFound"
        assert error.message == f"Handler 'nope' missing on module '{name}'"
        assert error.stack_trace == []


def test_an_exception_at_import_is_its_own_type_with_only_the_functions_frames(
    module: Callable[[str], str], tmp_path: Path
) -> None:
    name = module(
        """\
        def settings():
            raise KeyError("TABLE_NAME")

        TABLE = settings()

        def handle(event, context):
            return None
        """
    )
    error = _init_error(f"{name}.handle")
    assert error.error_type == "KeyError"  # as Lambda: the exception's own type, not a Runtime.* one
    assert error.message == "'TABLE_NAME'"
    assert [line.strip() for line in error.text().splitlines()] == [
        "KeyError: 'TABLE_NAME'",
        "Traceback (most recent call last):",
        f'File "{tmp_path / name}.py", line 4, in <module>',
        "TABLE = settings()",
        f'File "{tmp_path / name}.py", line 2, in settings',
        'raise KeyError("TABLE_NAME")',
    ]


@pytest.mark.parametrize(
    ("spec", "error_type", "message"),
    [
        ("handler", "Runtime.MalformedHandlerName", "Bad handler 'handler': give MODULE.FUNCTION (or MODULE:FUNCTION)"),
        ("sys.exit", "Runtime.BuiltInModuleConflict", "Cannot use built-in module sys as a handler module"),
    ],
)
def test_a_handler_name_lambda_refuses(spec: str, error_type: str, message: str) -> None:
    error = _init_error(spec)
    assert (error.error_type, error.message) == (error_type, message)


def test_the_check_before_start_finds_what_it_can_without_running_the_module(
    module: Callable[[str], str], tmp_path: Path
) -> None:
    # What `orderflow up --handler` can tell before the stack starts, worded as the init error
    syntax = module("def handle(event, context):\n    return {\n")
    raises = module("raise RuntimeError('not run by the check')\n")
    fine = module("def handle(event, context):\n    return None\n")
    found = check_handler(f"{syntax}:handle")
    assert found is not None
    assert found.error_type == "Runtime.UserCodeSyntaxError"
    assert f'File "{tmp_path / syntax}.py" Line 2' in found.text()
    missing = check_handler("no_such_module_here:handle")
    assert missing is not None
    assert missing.text() == (
        "Runtime.ImportModuleError: Unable to import module 'no_such_module_here': "
        "No module named 'no_such_module_here'"
    )
    malformed = check_handler("handler")
    assert malformed is not None
    assert malformed.error_type == "Runtime.MalformedHandlerName"
    assert check_handler(f"{raises}:handle") is None  # the module is compiled, not run
    assert raises not in sys.modules
    assert check_handler(f"{fine}:handle") is None


def test_an_environment_reports_the_init_error_and_logs_it_without_the_runtimes_frames(
    module: Callable[[str], str], tmp_path: Path
) -> None:
    # Given two functions whose handler fails at import, in real execution environments
    syntax = module("def handle(event, context):\n    return {\n")
    raises = module("import json\n\nCONFIG = json.loads('not json')\n\ndef handle(event, context):\n    return None\n")
    outcomes = {}
    for name in (syntax, raises):
        log = tmp_path / f"{name}.log"
        pool = EnvironmentPool(
            FunctionConfig(
                name="Fn", handler=f"{name}.handle", timeout=5, memory_size=128, environment={}, log_path=str(log)
            )
        )
        try:
            invocation = pool.invoke({"Records": []})
        finally:
            pool.shutdown()
        outcomes[name] = (invocation, log.read_text())
    # Then each invocation fails with Lambda's error, and the function's log has the same ERROR line
    invocation, logged = outcomes[syntax]
    assert invocation.status == "error"
    assert invocation.cold_start
    assert invocation.error == (
        f"Runtime.UserCodeSyntaxError: Syntax error in module '{syntax}': '{{' was never closed ({syntax}.py, line 2)\n"
        "Traceback (most recent call last):\n"
        f'  File "{tmp_path / syntax}.py" Line 2\n'
        "        return {"
    )
    assert logged == f"[ERROR] {invocation.error}\n"
    invocation, logged = outcomes[raises]
    assert invocation.status == "error"
    assert invocation.error is not None
    first, *trace = invocation.error.splitlines()
    assert first == "JSONDecodeError: Expecting value: line 1 column 1 (char 0)"
    # the function's frame first; the json module's own frames follow, as in any traceback
    assert trace[:3] == [
        "Traceback (most recent call last):",
        f'  File "{tmp_path / raises}.py", line 3, in <module>',
        "    CONFIG = json.loads('not json')",
    ]
    assert not [line for line in trace if any(ours in line for ours in NOT_THE_FUNCTIONS)]
    assert logged == f"[ERROR] {invocation.error}\n"
