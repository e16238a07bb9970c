"""The user documentation stays true to the code.

- Every key of the scenario schema (every field of every pydantic model reachable
  from ``ScenarioConfig``, by its YAML name) is documented in docs/configuration.md.
- Every ``$ channel-agents run ...`` and ``$ channel-agents validate --card ...``
  line in a ```console block of docs/**/*.md runs and exits 0. Examples that are
  meant to fail are shown in ```text blocks, which are not run here.
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel

from channel_agents.cli import main
from channel_agents.config import ScenarioConfig

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
RUNNABLE = ("$ channel-agents run ", "$ channel-agents validate --card")
MAX_PERIODS = 100_000  # longer runs are shortened to keep this file quick
SHORT_PERIODS = "2000"


def _models(annotation: typing.Any) -> list[type[BaseModel]]:
    """The pydantic models inside a type annotation (unions, Annotated, list, dict)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        found.extend(_models(arg))
    return found


def schema_keys() -> dict[str, set[str]]:
    """YAML key name -> the config blocks (model names) that accept it."""
    keys: dict[str, set[str]] = {}
    todo: list[type[BaseModel]] = [ScenarioConfig]
    seen: set[type[BaseModel]] = set()
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen.add(model)
        for name, field in model.model_fields.items():
            keys.setdefault(field.alias or name, set()).add(model.__name__)
            todo.extend(_models(field.annotation))
    return keys


def test_the_schema_walk_reaches_every_block() -> None:
    keys = schema_keys()
    for key in ("from", "to", "payment_terms", "theta", "fixed_fee", "elasticity", "protocol"):
        assert key in keys
    assert "seller" not in keys  # the alias is the YAML name


def test_every_config_key_is_documented_in_backticks() -> None:
    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    missing = sorted(
        f"{key} (in {', '.join(sorted(blocks))})"
        for key, blocks in schema_keys().items()
        if f"`{key}`" not in text
    )
    assert not missing, "undocumented config keys in docs/configuration.md: " + "; ".join(missing)


def console_commands() -> list[tuple[str, str]]:
    """(page:line, command) for every runnable line of every console block."""
    found = []
    for page in sorted(DOCS.rglob("*.md")):
        in_console = False
        for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), start=1):
            fence = re.match(r"^```(\w*)\s*$", line)
            if fence:
                in_console = not in_console and fence.group(1) == "console"
                continue
            if in_console and line.startswith(RUNNABLE):
                found.append((f"{page.relative_to(ROOT)}:{number}", line[2:]))
    return found


COMMANDS = console_commands()


def test_the_docs_show_runnable_commands() -> None:
    assert len(COMMANDS) >= 20
    assert any("validate --card" in cmd for _, cmd in COMMANDS)


def _argv(command: str, out_dir: Path) -> list[str]:
    argv = shlex.split(command)[1:]  # drop "channel-agents"
    for i, arg in enumerate(argv[:-1]):
        if arg == "--periods" and int(argv[i + 1]) > MAX_PERIODS:
            argv[i + 1] = SHORT_PERIODS
        if arg == "--out":  # write into the test's folder, not the project
            argv[i + 1] = str(out_dir / Path(argv[i + 1]).name)
    return argv


@pytest.mark.parametrize(("where", "command"), COMMANDS, ids=[w for w, _ in COMMANDS])
def test_documented_command_exits_0(where: str, command: str, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(ROOT)
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(_argv(command, tmp_path))
    assert code == 0, f"{where}: `{command}` exited {code}: {stderr.getvalue().strip()}"
    assert stdout.getvalue().strip(), f"{where}: `{command}` printed nothing"


def test_long_runs_are_shortened_and_outputs_redirected(tmp_path) -> None:
    argv = _argv("channel-agents run x.yaml --periods 200000 --out results/r", tmp_path)
    assert argv == ["run", "x.yaml", "--periods", SHORT_PERIODS, "--out", str(tmp_path / "r")]


def test_union_walk_finds_models_inside_optional_and_nested_types() -> None:
    assert _models(int | None) == []
    assert _models(list[ScenarioConfig] | None) == [ScenarioConfig]
