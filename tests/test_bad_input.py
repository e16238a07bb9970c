"""Bad input is refused with exit code 2 and one clear line; nothing is written.

DESIGN.md, "Interfaces that stay stable": bad input (a config, a flag) gives
exit code 2 and a message naming the file given on the command line (and the
file holding the error, if another), the key path, what is wrong and what is
allowed; no traceback, no partial output.

``tests/bad_configs/`` holds one broken scenario per file (helpers in
``parts/`` are not cases); ``expected.yaml`` lists what each message must say.
The CLI runs in-process, so a crash shows its traceback here.
"""

from __future__ import annotations

import copy
import re
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from channel_agents.cli import main
from channel_agents.config import (
    ConfigError,
    EdgeConfig,
    MarketConfig,
    MemberConfig,
    ScenarioConfig,
    StrategyLevers,
    load_config,
)
from channel_agents.model import ChannelModel

TESTS = Path(__file__).parent
ROOT = TESTS.parent
BAD = TESTS / "bad_configs"
EXPECTED: dict[str, list[str]] = yaml.safe_load((BAD / "expected.yaml").read_text("utf-8"))
CASES = sorted(p.name for p in BAD.glob("*.yaml") if p.name != "expected.yaml")
BEER = "configs/beer_game.yaml"  # relative to ROOT, as a user types it

# Words that belong to the implementation, not to a message for users.
JARGON = (
    "Traceback",
    "Input should be",
    "validation error",
    "errors.pydantic.dev",
    "[type=",
    "literal[",
    "function-after",
    "Error:",
)


@dataclass
class Outcome:
    code: Any
    out: str
    err: str


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> Outcome:
    """Run ``channel-agents ARGV`` in-process; argparse errors exit through SystemExit."""
    try:
        code: Any = main(argv)
    except SystemExit as exc:
        code = exc.code
    captured = capsys.readouterr()
    return Outcome(code, captured.out, captured.err)


def refusal_problems(
    outcome: Outcome, *, given_file: str, expected: list[str], out_dir: Path
) -> list[str]:
    """Everything wrong with how a bad input was refused (empty when it was refused well)."""
    problems = []
    if outcome.code != 2:
        problems.append(f"exit code {outcome.code!r}, expected 2")
    lines = outcome.err.strip().splitlines()
    if len(lines) != 1:
        problems.append(f"{len(lines)} lines on stderr, expected exactly one")
    if given_file not in outcome.err:
        problems.append(f"does not name the file given on the command line ({given_file})")
    body = outcome.err.replace(given_file, "")  # so that a case's file name cannot satisfy it
    problems += [f"does not say {want!r}" for want in expected if want not in body]
    problems += [f"contains {word!r}" for word in JARGON if word in outcome.err]
    if outcome.out:
        problems.append("printed on stdout (partial output)")
    if out_dir.exists():
        problems.append("created the --out directory")
    return problems


def assert_refused(
    argv: list[str],
    expected: list[str],
    *,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    given_file: str = BEER,
) -> None:
    out_dir = tmp_path / "out"
    outcome = run_cli(["run", *argv, "--out", str(out_dir)], capsys)
    problems = refusal_problems(outcome, given_file=given_file, expected=expected, out_dir=out_dir)
    assert not problems, "; ".join(problems) + f"\nstderr was: {outcome.err!r}"


@pytest.fixture
def at_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run from the repository root, so config paths are given as a user types them."""
    monkeypatch.chdir(ROOT)


# --------------------------------------------------------------------------- the corpus


def test_the_corpus_holds_at_least_40_cases_each_with_expectations() -> None:
    assert len(CASES) >= 40
    assert sorted(EXPECTED) == CASES, "expected.yaml and the case files differ"
    assert all(isinstance(v, list) and v for v in EXPECTED.values())


@pytest.mark.parametrize("case", CASES)
def test_bad_scenario_exits_2_with_one_line_naming_file_key_path_and_problem(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], at_root: None
) -> None:
    given_file = f"tests/bad_configs/{case}"
    assert_refused(
        [given_file], EXPECTED[case], capsys=capsys, tmp_path=tmp_path, given_file=given_file
    )


# --------------------------------------------------------------------------- --set


def test_set_without_equals_sign_asks_for_path_equals_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], at_root: None
) -> None:
    assert_refused(
        [BEER, "--set", "periods"],
        ["--set", "'periods'", "path=value"],
        capsys=capsys,
        tmp_path=tmp_path,
    )


def test_set_with_an_empty_key_says_the_path_is_empty(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], at_root: None
) -> None:
    assert_refused([BEER, "--set", "=3"], ["--set", "empty"], capsys=capsys, tmp_path=tmp_path)


def test_set_list_index_out_of_range_names_the_index_and_the_list_length(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], at_root: None
) -> None:
    assert_refused(
        [BEER, "--set", "edges.9.lead_time=1"],
        ["edges.9", "out of range", "4 items"],
        capsys=capsys,
        tmp_path=tmp_path,
    )


def test_set_negative_list_index_out_of_range_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], at_root: None
) -> None:
    assert_refused(
        [BEER, "--set", "edges.-9.lead_time=1"],
        ["edges.-9", "out of range"],
        capsys=capsys,
        tmp_path=tmp_path,
    )


def test_set_unknown_item_name_lists_the_names_there_are(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], at_root: None
) -> None:
    assert_refused(
        [BEER, "--set", "markets.nowhere.demand={kind: constant, value: 3}"],
        ["markets.nowhere", "'nowhere'", "customers"],
        capsys=capsys,
        tmp_path=tmp_path,
    )


def test_set_value_out_of_range_is_validated_like_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], at_root: None
) -> None:
    assert_refused(
        [BEER, "--set", "edges.1.lead_time=0"],
        ["edges[1].lead_time", ">= 1"],
        capsys=capsys,
        tmp_path=tmp_path,
    )


def test_set_value_of_the_wrong_type_names_the_key_and_the_type(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], at_root: None
) -> None:
    assert_refused(
        [BEER, "--set", "periods=abc"],
        ["periods", "whole number", "abc"],
        capsys=capsys,
        tmp_path=tmp_path,
    )


def test_set_unknown_key_names_its_path_and_the_allowed_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], at_root: None
) -> None:
    assert_refused(
        [BEER, "--set", "members.factory.stok=3"],
        ["members.factory.stok", "unknown key", "did you mean 'stock'", "allowed:"],
        capsys=capsys,
        tmp_path=tmp_path,
    )


def test_set_value_that_is_not_yaml_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], at_root: None
) -> None:
    assert_refused(
        [BEER, "--set", "defaults.ordering={policy: pass_through"],
        ["defaults.ordering", "not valid YAML"],
        capsys=capsys,
        tmp_path=tmp_path,
    )


def test_set_a_key_inside_a_number_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], at_root: None
) -> None:
    assert_refused(
        [BEER, "--set", "members.factory.stock.level=3"],
        ["members.factory.stock", "cannot set a key inside"],
        capsys=capsys,
        tmp_path=tmp_path,
    )


def test_set_errors_apply_to_an_extending_file_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], at_root: None
) -> None:
    child = tmp_path / "child.yaml"
    child.write_text(f"extends: {ROOT / BEER}\nperiods: 10\n", encoding="utf-8")
    assert_refused(
        [str(child), "--set", "defaults.ordering.theta=1.5"],
        ["defaults.ordering.theta", "<= 1", "1.5"],
        capsys=capsys,
        tmp_path=tmp_path,
        given_file=str(child),
    )


# --------------------------------------------------------------------------- flags and files


def test_zero_periods_flag_is_refused_saying_at_least_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], at_root: None
) -> None:
    assert_refused(
        [BEER, "--periods", "0"], ["--periods", ">= 1"], capsys=capsys, tmp_path=tmp_path
    )


def test_negative_periods_flag_is_refused_saying_at_least_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], at_root: None
) -> None:
    assert_refused(
        [BEER, "--periods", "-3"], ["--periods", ">= 1", "-3"], capsys=capsys, tmp_path=tmp_path
    )


def test_negative_seed_flag_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], at_root: None
) -> None:
    assert_refused(
        [BEER, "--seed", "-1"], ["--seed", ">= 0", "-1"], capsys=capsys, tmp_path=tmp_path
    )


def test_non_numeric_seed_flag_is_refused_as_not_a_whole_number(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], at_root: None
) -> None:
    assert_refused(
        [BEER, "--seed", "abc"],
        ["--seed", "whole number", "abc"],
        capsys=capsys,
        tmp_path=tmp_path,
    )


def test_non_numeric_warmup_flag_is_refused_as_not_a_whole_number(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], at_root: None
) -> None:
    assert_refused(
        [BEER, "--warmup", "x"], ["--warmup", "whole number"], capsys=capsys, tmp_path=tmp_path
    )


def test_missing_config_file_is_named_as_not_found(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], at_root: None
) -> None:
    given_file = "configs/no_such_scenario.yaml"
    assert_refused(
        [given_file], ["not found"], capsys=capsys, tmp_path=tmp_path, given_file=given_file
    )


def test_directory_as_config_says_it_is_a_directory_not_a_yaml_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], at_root: None
) -> None:
    assert_refused(
        ["configs"], ["is a directory"], capsys=capsys, tmp_path=tmp_path, given_file="configs"
    )


# --------------------------------------------------------------------------- accepted means runnable


def _tags(annotation: Any, key: str) -> list[str]:
    """The values of ``key`` (policy, kind, type) that a tagged config block accepts."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _tags(typing.get_args(annotation)[0], key)
    if origin in (typing.Union, types.UnionType):
        return [tag for arg in typing.get_args(annotation) for tag in _tags(arg, key)]
    field = getattr(annotation, "model_fields", {}).get(key)
    return list(typing.get_args(field.annotation)) if field is not None else []


TAGGED_BLOCKS = [
    (where, key, tag)
    for model, field, key, wheres in (
        (MemberConfig, "ordering", "policy", ["defaults.ordering"]),
        (
            MemberConfig,
            "pricing",
            "policy",
            ["members.retailer.pricing", "members.factory.pricing"],
        ),
        (EdgeConfig, "contract", "type", ["edges.1.contract"]),
        (MarketConfig, "demand", "kind", ["markets.customers.demand"]),
    )
    for tag in _tags(model.model_fields[field].annotation, key)
    for where in wheres
]
LEVER_VALUES = [
    (lever, value)
    for lever, field in StrategyLevers.model_fields.items()
    for value in typing.get_args(field.annotation)
]


def run_briefly_or_refuse_clearly(
    assignment: str, capsys: pytest.CaptureFixture[str], config: str = BEER
) -> None:
    outcome = run_cli(["run", config, "--set", assignment, "--periods", "5", "--json"], capsys)
    assert outcome.code in (0, 2), outcome.err
    if outcome.code == 2:
        assert len(outcome.err.strip().splitlines()) == 1, outcome.err
        assert config in outcome.err, outcome.err
        assert not outcome.out, outcome.out


def test_the_config_schema_names_tagged_blocks_and_levers_to_try() -> None:
    assert len(TAGGED_BLOCKS) >= 10 and LEVER_VALUES


@pytest.mark.parametrize(("where", "key", "tag"), TAGGED_BLOCKS)
def test_every_policy_kind_and_type_the_config_accepts_runs_or_is_refused_clearly(
    where: str, key: str, tag: str, capsys: pytest.CaptureFixture[str], at_root: None
) -> None:
    run_briefly_or_refuse_clearly(f"{where}={{{key}: {tag}}}", capsys)


@pytest.mark.parametrize(("lever", "value"), LEVER_VALUES)
def test_every_strategy_lever_value_the_config_accepts_runs_or_is_refused_clearly(
    lever: str, value: str, capsys: pytest.CaptureFixture[str], at_root: None
) -> None:
    run_briefly_or_refuse_clearly(f"strategy={{{lever}: {value}}}", capsys)


@pytest.mark.parametrize(
    "assignment", ["markets.north.demand.a=1e150", "markets.north.demand.b=1e-120"]
)
def test_extreme_but_valid_linear_demand_runs_or_is_refused_clearly(
    assignment: str, capsys: pytest.CaptureFixture[str], at_root: None
) -> None:
    run_briefly_or_refuse_clearly(assignment, capsys, config="configs/three_tier.yaml")


# --------------------------------------------------------------------------- fuzzing

BEER_GAME: dict[str, Any] = yaml.safe_load((ROOT / BEER).read_text("utf-8"))
DELETE = object()
TOP_KEYS = {f.alias or n for n, f in ScenarioConfig.model_fields.items()}
PATH_SHAPE = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*|\[\d+\])*")


def _all_paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key and list index in ``node``, as tuples from the top."""
    if isinstance(node, dict):
        items: Any = node.items()
    elif isinstance(node, list):
        items = enumerate(node)
    else:
        return []
    out: list[tuple[Any, ...]] = []
    for key, value in items:
        out.append((*prefix, key))
        out += _all_paths(value, (*prefix, key))
    return out


def _holds(node: Any, key: Any) -> bool:
    """Whether ``node[key]`` is a key or index the user could have written."""
    if isinstance(node, dict):
        return key in node
    return isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node)


def _mutate(data: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    """Delete or replace the node at ``path`` (skipped if an earlier mutation removed it)."""
    node: Any = data
    for key in path[:-1]:
        if not _holds(node, key):
            return
        node = node[key]
    if not _holds(node, path[-1]):
        return
    if value is DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = copy.deepcopy(value)


def _segments(key_path: str) -> list[str | int]:
    return [
        int(s[1:-1]) if s.startswith("[") else s for s in re.findall(r"\[\d+\]|[^.\[\]]+", key_path)
    ]


def assert_clear_config_error(exc: ConfigError, data: dict[str, Any]) -> None:
    """One line, with a key path made of keys the user wrote (the last may be missing)."""
    text = str(exc)
    assert "\n" not in text, text
    assert exc.path, f"no key path: {text}"
    assert exc.path in text, text
    assert PATH_SHAPE.fullmatch(exc.path), f"key path {exc.path!r} is not keys and indexes"
    segments = _segments(exc.path)
    assert segments[0] in TOP_KEYS, f"key path {exc.path!r} does not start at a top-level key"
    node: Any = data
    for seg in segments[:-1]:
        assert _holds(node, seg), f"key path {exc.path!r}: {seg!r} is not in the config"
        node = node[seg]


random_values = st.one_of(
    st.none(),
    st.integers(min_value=-1000, max_value=10_000),
    st.floats(max_value=-1e-9, allow_nan=False),
    st.text(max_size=8),
    st.lists(st.integers(-5, 50) | st.text(max_size=4), max_size=3),
    st.dictionaries(
        st.from_regex(r"[a-z_]{1,8}", fullmatch=True),
        st.integers(-5, 50) | st.text(max_size=4),
        max_size=3,
    ),
)
mutations = st.lists(
    st.tuples(st.sampled_from(_all_paths(BEER_GAME)), st.just(DELETE) | random_values),
    min_size=1,
    max_size=3,
)


@settings(max_examples=150, deadline=None, database=None)
@given(mutations)
def test_mutated_beer_game_loads_or_raises_one_line_config_error_and_loaded_ones_run(
    changes: list[tuple[tuple[Any, ...], Any]],
) -> None:
    data = copy.deepcopy(BEER_GAME)
    for path, value in changes:
        _mutate(data, path, value)
    try:
        cfg = load_config(data)
    except ConfigError as exc:
        assert_clear_config_error(exc, data)
        return
    try:  # a scenario that loads runs; set-up may still refuse it with a ConfigError
        model = ChannelModel(cfg.model_copy(update={"periods": 5, "warmup": 0}), keep_series=False)
        model.run()
    except ConfigError as exc:
        assert_clear_config_error(exc, data)


@pytest.mark.parametrize(
    "command", [[], ["run"], ["compare"], ["validate"], ["experiment"], ["viz"]]
)
def test_every_help_text_renders(command, capsys):
    with pytest.raises(SystemExit) as done:
        main([*command, "--help"])
    assert done.value.code == 0
    assert "usage: channel-agents" in capsys.readouterr().out


def test_validate_with_an_unknown_card_lists_the_cards(capsys: pytest.CaptureFixture[str]) -> None:
    outcome = run_cli(["validate", "--card", "99"], capsys)
    assert outcome.code == 2
    assert outcome.out == ""
    assert "--card 99" in outcome.err and "no such theory card" in outcome.err
    assert "cards: 1, 2, 3, 4, 5, 6, 7, 8" in outcome.err
