"""biomatrix_plugin.schema: the one table-driven validator (corpus cards and SFT task files use it)."""

from __future__ import annotations

import math

import pytest

from biomatrix_plugin.errors import BioMatrixError, ConfigError
from biomatrix_plugin.schema import (
    Bool,
    Enum,
    Float,
    Int,
    ListOf,
    MapOf,
    Path,
    PathPattern,
    Probability,
    Rule,
    SchemaError,
    Spec,
    Str,
    StrList,
    check,
    load_yaml,
    validate,
)

SPEC = Spec({
    "name": Str(pattern=r"[a-z][a-z0-9_]*"),
    "seed": Int(min=0),
    "weight": Float(min=0, min_open=True),
    "flag": Bool(),
    "mode": Enum(("fast", "slow")),
    "tags": StrList(items=("a", "b")),
    "path": PathPattern(),
    "out": Path(relative=True),
    "views": MapOf(Probability(), keys=("smiles", "selfies")),
    "limit": Int(min=1, nullable=True),
    "items": ListOf(Spec({"column": Str(nonempty=True), "scale": Float()}, required=("column",)), nonempty=True),
    "params": Spec({"inner": Spec({"depth": Int(min=0, max=3)})}),
}, required=("name",))


def problems(value):
    return validate(value, SPEC, "card x.yaml")


def test_a_valid_value_has_no_problems_and_check_returns_it():
    value = {"name": "ok_1", "seed": 0, "weight": 0.5, "flag": False, "mode": "fast", "tags": ["a"],
             "path": ["x/*.sdf", "y.sdf"], "out": "corpus/x", "views": {"smiles": 1, "selfies": 0.0},
             "limit": None, "items": [{"column": "Ki", "scale": 2}], "params": {"inner": {"depth": 3}}}
    assert problems(value) == []
    assert check(value, SPEC, "card x.yaml") is value


@pytest.mark.parametrize("patch,message", [
    ({"nme": "x"}, "card x.yaml: nme: unknown key; expected one of flag, items, limit, mode, name,"),
    ({"seed": -1}, "card x.yaml: seed: must be a non-negative integer, got -1"),
    ({"seed": True}, "seed: must be a non-negative integer, got True"),
    ({"seed": 1.5}, "seed: must be a non-negative integer, got 1.5"),
    ({"weight": math.nan}, "weight: must be a finite number (a number > 0), got nan"),
    ({"weight": math.inf}, "weight: must be a finite number"),
    ({"weight": 0}, "weight: must be a number > 0, got 0"),
    ({"weight": "1"}, "weight: must be a number > 0, got '1'"),
    ({"flag": "yes"}, "flag: must be true or false, got 'yes'"),
    ({"mode": "quick"}, "mode: 'quick' is not one of fast, slow"),
    ({"mode": ["fast"]}, "mode: ['fast'] is not one of fast, slow"),
    ({"tags": ["c"]}, "tags[0]: unknown item 'c'; expected one of a, b"),
    ({"tags": "a"}, "tags: must be a list of strings"),
    ({"path": []}, "path: must be a path pattern or a list of them"),
    ({"path": ["x", 3]}, "path[1]: must be a path pattern, got 3"),
    ({"out": "/abs"}, "out: '/abs' must be a relative path"),
    ({"views": {"smile": 1.0}}, "card x.yaml: views.smile: unknown key; expected one of selfies, smiles"),
    ({"views": {"smiles": 1.5}}, "views.smiles: must be a probability in [0, 1], got 1.5"),
    ({"views": [1]}, "views: must be a mapping, got list [1]"),
    ({"limit": 0}, "limit: must be an integer >= 1, got 0"),
    ({"seed": None}, "seed: must not be null"),
    ({"items": []}, "items: must not be empty"),
    ({"items": [{"scale": 1}]}, "items[0]: missing required key 'column'"),
    ({"items": [{"column": "c", "scal": 1}]}, "items[0].scal: unknown key; expected one of column, scale"),
    ({"params": {"inner": {"depth": 4}}}, "params.inner.depth: must be an integer in [0, 3], got 4"),
    ({"params": {"inner": {"deep": 1}}}, "params.inner.deep: unknown key; expected one of depth"),
    ({"name": "Bad"}, "name: 'Bad' must match [a-z][a-z0-9_]*"),
])
def test_each_kind_names_the_file_the_dotted_key_and_the_reason(patch, message):
    found = problems({"name": "ok", **patch})
    assert len(found) == 1 and message in found[0], found


def test_every_problem_is_reported_at_once_and_check_raises_a_config_error():
    value = {"seed": -1, "weight": math.nan, "oops": 1}
    found = problems(value)
    assert len(found) == 4 and "missing required key 'name'" in found[0], found
    with pytest.raises(SchemaError) as info:
        check(value, SPEC, "card x.yaml")
    assert isinstance(info.value, ConfigError) and isinstance(info.value, BioMatrixError)
    assert info.value.problems == found and str(info.value) == "\n".join(found)


def test_rules_and_cross_field_checks_run_once_the_fields_are_valid():
    vocab = Rule(Str(), lambda v: None if v in ("open", "default") or "/" in v else f"{v!r} is not a vocabulary")
    spec = Spec({"fmt": Str(), "root": Str(), "vocab": vocab},
                rules=(lambda m: [("root", "is required with fmt: types")] if m.get("fmt") == "types"
                       and "root" not in m else [],))
    assert validate({"vocab": "defualt"}, spec, "f") == ["f: vocab: 'defualt' is not a vocabulary"]
    assert validate({"vocab": "./v"}, spec, "f") == []
    assert validate({"fmt": "types"}, spec, "f", key="params") == ["f: params.root: is required with fmt: types"]
    # a field problem suppresses the rule (no second message about an already broken mapping)
    assert validate({"fmt": 3}, spec, "f") == ["f: fmt: must be a string, got 3"]


def test_load_yaml_refuses_a_duplicated_key_naming_the_key_and_line(tmp_path):
    card = tmp_path / "c.yaml"
    card.write_text("name: a\nbuilder:\n  name: molecule\nbuilder:\n  name: text\n")
    with pytest.raises(SchemaError, match=r"card c.yaml: line 4: key 'builder' appears twice in one mapping "
                                          r"\(first on line 2\)"):
        load_yaml(card, "card c.yaml")
    card.write_text("a:\n  b: 1\n  c: 2\n  b: 3\n")
    with pytest.raises(SchemaError, match=r"line 4: key 'b' appears twice"):
        load_yaml(card)


def test_load_yaml_is_safe_load_otherwise(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\nw: .nan\nl: [1, 2]\n")
    data = load_yaml(f)
    assert data["other"] == {"x": 1, "y": 3} and math.isnan(data["w"]) and data["l"] == [1, 2]
    f.write_text("x: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(SchemaError, match="not valid YAML"):
        load_yaml(f)
    f.write_text("a: [1\n")
    with pytest.raises(SchemaError, match="not valid YAML"):
        load_yaml(f)
    f.write_bytes(b"a: \xff\xfe\n")
    with pytest.raises(SchemaError, match="not UTF-8"):
        load_yaml(f)
    f.write_text("")
    assert load_yaml(f) is None
