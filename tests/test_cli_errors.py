"""Every command fails the same way (issue 10 §4), and the shared argparse types refuse values that cannot work.

- every subcommand found by walking ``build_parser()``, run in-process with a missing input file: exit 2,
  an ``error:`` line on stderr, no traceback, no output left behind; every group without an action prints
  its help; ``unwrap ... | head`` exits quietly.
- ``biomatrix_plugin.cli_types``: each type function accepts what it should and refuses, at parse time,
  the values that used to crash a run late (``--workers 0``, ``--coverage nan``, non-ASCII digits).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from biomatrix_plugin import cli_types as ct


@pytest.mark.parametrize("text, expected", [("1", 1), ("42", 42), (" 7 ", 7), ("+3", 3)])
def test_positive_int_accepts(text, expected):
    assert ct.positive_int(text) == expected


@pytest.mark.parametrize("text", ["0", "-1", "1.5", "", "abc", "١٢٣", "1_000", "1e3", "nan"])
def test_positive_int_refuses(text):
    with pytest.raises(argparse.ArgumentTypeError):
        ct.positive_int(text)


def test_non_negative_int():
    assert ct.non_negative_int("0") == 0
    assert ct.non_negative_int("12") == 12
    for bad in ("-1", "-3", "٣", "x"):
        with pytest.raises(argparse.ArgumentTypeError):
            ct.non_negative_int(bad)


def test_int_range():
    decimals = ct.int_range(0, 6)
    assert decimals("0") == 0 and decimals("6") == 6
    for bad in ("-3", "7"):
        with pytest.raises(argparse.ArgumentTypeError, match=r"\[0, 6\]"):
            decimals(bad)
    with pytest.raises(argparse.ArgumentTypeError, match=r"\[2, inf\]"):
        ct.int_range(low=2)("1")


@pytest.mark.parametrize("func", [ct.finite_float, ct.positive_float, ct.non_negative_float, ct.unit_interval_float])
@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "NaN", "abc", ""])
def test_float_types_refuse_non_finite(func, text):
    with pytest.raises(argparse.ArgumentTypeError):
        func(text)


def test_float_bounds():
    assert ct.finite_float("-2.5") == -2.5
    assert ct.positive_float("0.1") == pytest.approx(0.1)
    with pytest.raises(argparse.ArgumentTypeError):
        ct.positive_float("0")
    assert ct.non_negative_float("0") == 0.0
    with pytest.raises(argparse.ArgumentTypeError):
        ct.non_negative_float("-0.1")


def test_unit_interval_closed_and_open():
    assert ct.unit_interval_float("0") == 0.0 and ct.unit_interval_float("1") == 1.0
    with pytest.raises(argparse.ArgumentTypeError, match=r"\[0, 1\]"):
        ct.unit_interval_float("1.5")
    coverage = ct.unit_interval_float(open_low=True)
    assert coverage("1") == 1.0 and math.isclose(coverage("0.99"), 0.99)
    with pytest.raises(argparse.ArgumentTypeError, match=r"\(0, 1\]"):
        coverage("0")
    with pytest.raises(argparse.ArgumentTypeError, match=r"\[0, 1\)"):
        ct.unit_interval_float(open_high=True)("1")


def test_argparse_reports_the_reason_and_exits_2(capsys):
    parser = argparse.ArgumentParser(prog="biomatrix x")
    parser.add_argument("--workers", type=ct.positive_int)
    parser.add_argument("--coverage", type=ct.unit_interval_float(open_low=True))
    with pytest.raises(SystemExit) as exc:
        parser.parse_args(["--workers", "0"])
    assert exc.value.code == 2
    assert "argument --workers: must be >= 1, got 0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parser.parse_args(["--coverage", "nan"])
    assert "argument --coverage: 'nan' is not a finite number" in capsys.readouterr().err


# --- every command fails the same way: a missing input file is `error: ...` and exit 2, never a traceback

MISSING_DIR = "no_such_folder"
# option destinations that name an output (given a fresh path in tmp_path, which must stay absent)
OUTPUT_DESTS = {"out", "rejects", "png", "json"}
# argv for the commands whose input is not simply their required arguments; {missing} is a path in a
# folder that does not exist, {out} a fresh output path. An entry starting with "=" is the whole argv (for
# a group option placed before the action).
ARGV = {
    "tasks list": ["=", "tasks", "--tasks-dir", "{missing}", "list"],
    "tasks check": ["=", "tasks", "--tasks-dir", "{missing}", "check"],
    # --check: a run without it regenerates recipes/ in this checkout
    "tasks recipes": ["--root", "{missing}", "--check"],
    "vocab show": ["--vocab", "{missing}"],
    "wrap": ["--modality", "smiles", "C1CC(("],  # takes its value on the command line: a value it cannot hold
    "eval metric": ["exact_match", "--pred", "{missing}", "--ref", "{missing}"],
    "mol3d fetch-checkpoint": ["--url", "file://{missing}", "--sha256", "0" * 64, "--out", "{out}"],
    "corpus check": ["--registry", "{missing}"],
    "corpus list": ["--registry", "{missing}"],
    "corpus stats": ["{missing}"],  # its positional `out` is the build folder it reads
    "corpus add": ["--name", "demo_x", "--builder", "molecule", "--format", "smi", "--path", "{missing}",
                   "--license", "CC0-1.0", "--source-name", "test", "--registry", "{missing}"],
    "protein3d extract": ["--in", "{missing}", "--out", "{out}"],
    "protein3d encode": ["--in", "{missing}", "--out", "{out}", "--backend", "precomputed", "--vq-csv", "{missing}"],
}
# commands with no input at all, each with why it is not run here
NO_INPUT = {
    "unwrap": "takes text, not a file; malformed segments are its result (exit 1); BrokenPipe is tested below",
    "tiny-base": "builds a model from nothing (no input file); --out errors are the writers' (io.atomic_output)",
    "install-hook": "writes into the running environment; no input",
    "doctor": "checks the environment in a subprocess; no input",
}
# Commands that do not yet fail cleanly on a missing input; their areas are fixing them. Kept explicit so
# the suite stays green meanwhile; one that passes warns, to be deleted from here.
PENDING: dict[str, str] = {
}


def _walk(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """(command path, parser) for every leaf command; aliases (same parser object) once, by first name."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield " ".join(path), parser
        return
    seen: set[int] = set()
    for action in subs:
        for name, sub in action.choices.items():
            if id(sub) not in seen:
                seen.add(id(sub))
                yield from _walk(sub, (*path, name))


def _groups(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """(path, parser) for every command group, aliases included (``data``, ``protein``)."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if subs and path:
        yield " ".join(path), parser
    for action in subs:
        for name, sub in action.choices.items():
            yield from _groups(sub, (*path, name))


def _parser():
    from biomatrix_plugin.cli import build_parser

    return build_parser()


COMMANDS = dict(_walk(_parser()))


def _auto_argv(parser: argparse.ArgumentParser) -> list[str]:
    """Every required argument filled: choices with their first value, outputs with {out}, the rest {missing}."""
    argv: list[str] = []
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction) or (action.option_strings and not action.required):
            continue
        if action.choices:
            value = str(next(iter(action.choices)))
        elif action.dest in OUTPUT_DESTS:
            value = "{out}"
        else:
            value = "{missing}"
        argv += [action.option_strings[0], value] if action.option_strings else [value]
    return argv


def _argv(command: str, tmp_path: Path) -> list[str]:
    template = ARGV.get(command) or _auto_argv(COMMANDS[command])
    words = command.split()
    if template[:1] == ["="]:
        template, words = template[1:], []
    missing = tmp_path / MISSING_DIR / "input.txt"
    counter = iter(range(100))
    out = []
    for arg in template:
        if arg == "{out}":
            arg = str(tmp_path / f"out{next(counter)}")
        out.append(arg.replace("{missing}", str(missing)))
    return [*words, *out]


def test_every_command_is_covered():
    assert len(COMMANDS) > 20, sorted(COMMANDS)
    for table in (ARGV, NO_INPUT, PENDING):
        stale = set(table) - set(COMMANDS)
        assert not stale, f"entries for commands that no longer exist: {sorted(stale)}"


@pytest.mark.timeout(300)
@pytest.mark.parametrize("command", sorted(set(COMMANDS) - set(NO_INPUT)))
def test_missing_input_is_one_error_line(command, tmp_path, capsys):
    from biomatrix_plugin.cli import main

    argv = _argv(command, tmp_path)
    try:
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse refusing a value: its own `error:` line, exit 2
            code = exc.code
        captured = capsys.readouterr()
        lines = [line for line in captured.err.splitlines() if line.strip()]
        assert code == 2, f"biomatrix {' '.join(argv)}: exit {code}\n{captured.err}"
        errors = [line for line in lines if "error:" in line]
        assert errors, captured.err
        if "{missing}" in " ".join(ARGV.get(command) or _auto_argv(COMMANDS[command])):
            missing = str(tmp_path / MISSING_DIR)
            assert any(missing in line for line in errors), f"the error names the missing file: {errors}"
        assert "Traceback" not in captured.err
        assert not any(p.name.startswith("out") for p in tmp_path.iterdir()), "no output for a failed command"
    except BaseException as exc:
        if command in PENDING:
            pytest.xfail(f"pending ({PENDING[command]}): {type(exc).__name__}: {exc}"[:500])
        raise
    if command in PENDING:
        warnings.warn(f"{command} now fails cleanly: delete it from PENDING", stacklevel=1)


def test_every_group_prints_its_help_without_an_action(capsys):
    from biomatrix_plugin.cli import main

    groups = dict(_groups(_parser()))
    assert {"vocab", "mol3d", "protein3d", "protein", "corpus", "data", "eval"} <= set(groups)
    for path, parser in groups.items():
        code = main(path.split())
        out = capsys.readouterr().out
        assert code == 2, path
        assert out.startswith(f"usage: {parser.prog}"), f"biomatrix {path}: {out[:200]!r}"
        actions = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        assert all(name in out for name in actions.choices), f"biomatrix {path}: help lists its actions"
    assert main([]) == 2 and "usage: biomatrix" in capsys.readouterr().out


def test_old_group_names_are_aliases_said_so_in_help(capsys):
    from biomatrix_plugin.cli import main

    with pytest.raises(SystemExit):
        main(["--help"])
    top = capsys.readouterr().out
    for new, old in (("corpus", "data"), ("protein3d", "protein")):
        assert new in top and old in top
        assert COMMANDS.get(f"{new} " + next(c.split()[1] for c in COMMANDS if c.startswith(new + " ")))


def test_unwrap_into_a_closed_pipe_exits_quietly(tmp_path):
    """`biomatrix unwrap - | head -1`: head leaves after one line; no BrokenPipeError traceback, no
    'Exception ignored' at interpreter exit."""
    text = "".join(f"p{i} <|prot_aa_start|><A M><A K><|prot_aa_end|> " for i in range(20000))
    (tmp_path / "in.txt").write_text(text)
    biomatrix = Path(sys.executable).parent / "biomatrix"
    script = (f'set -o pipefail; "{biomatrix}" unwrap - < in.txt 2> err.txt | head -1 > out.txt; '
              'echo "${PIPESTATUS[0]}"')
    proc = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert json.loads((tmp_path / "out.txt").read_text())["value"] == "MK"
    assert (tmp_path / "err.txt").read_text() == ""
    assert proc.stdout.strip() in ("0", "141"), proc.stdout
