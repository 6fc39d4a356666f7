"""Helpers shared by the tests of the instruction-tuning task families (tests/tasks/test_<family>.py).

Each family test builds its tasks from the hand-written raw fixtures under tests/tasks/fixtures, reads the
built rows and the rejects' reasons, and runs ``eval run`` end to end with an oracle backend that answers every
test prompt with a known answer (by default the row's gold), on a fake model folder. Those steps live here
once:

- :data:`FIXTURES`, :func:`build_fixture_tasks`: build tasks from the fixtures (``--shards 1``, no progress).
- :func:`rejects`: the reasons written to ``<task>/rejects.jsonl``.
- :class:`OracleBackend`, :func:`fake_model_dir`, :func:`run_oracle_eval`: ``eval run`` with the oracle.
- :func:`results_by_metric`: the ``results.jsonl`` lines of an eval run by (task, variant, metric).

Rows are read with :func:`conftest.read_jsonl`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from biomatrix_plugin.eval.generation import Generation
from biomatrix_plugin.eval.run import RunOptions, run_eval
from biomatrix_plugin.tasks.build import BuildOptions, build_tasks
from biomatrix_plugin.tasks.registry import TaskRegistry
from biomatrix_plugin.tasks.spec import Task
from conftest import read_jsonl

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def _as_tasks(tasks: str | Task | Iterable[str | Task]) -> list[Task]:
    """Task ids or Task objects (one or many) -> Task objects; ids are looked up in the shipped registry."""
    if isinstance(tasks, (str, Task)):
        tasks = [tasks]
    registry = None
    found = []
    for task in tasks:
        if isinstance(task, str):
            if registry is None:
                registry = TaskRegistry()
            task = registry.get(task)
        found.append(task)
    return found


def build_fixture_tasks(task_ids_or_tasks: str | Task | Iterable[str | Task], out_dir: Path,
                        **build_options: Any) -> dict[str, dict]:
    """Build the tasks from :data:`FIXTURES` into ``out_dir``; returns their manifests by task id.

    ``build_options`` are :class:`BuildOptions` fields overriding the defaults used here (``raw_root=FIXTURES,
    progress=False, shards=1``), e.g. ``raw_root=`` for a raw folder written by the test."""
    options = {"raw_root": FIXTURES, "progress": False, "shards": 1, **build_options}
    manifests = build_tasks(_as_tasks(task_ids_or_tasks), BuildOptions(out_dir=Path(out_dir), **options))
    return {m["task"]: m for m in manifests}


def rejects(built: Path, task_id: str, split: str | None = None) -> list[str]:
    """The reasons in ``<built>/<task_id>/rejects.jsonl``, in file order (only ``split``'s when given)."""
    return [r["reason"] for r in read_jsonl(Path(built) / task_id / "rejects.jsonl")
            if split is None or r["split"] == split]


def readout_wording(readout: str) -> Callable[[str], str]:
    """How the default oracle phrases a gold answer: bare for the ``text`` readout (it reads the generation
    whole), else inside a sentence ("The answer is ..."), so the readout has to find it."""
    if readout == "text":
        return bare
    return lambda answer: f"The answer is {answer}."


def bare(answer: str) -> str:
    """The gold answer as it is (a ``wrap`` for :class:`OracleBackend`)."""
    return answer


class OracleBackend:
    """A generation backend for ``eval run`` that answers each test prompt with a known answer.

    ``source`` is either a built folder (every ``<task>/<variant>/test.jsonl`` under it, or only those of
    ``tasks`` when given): each row's prompt is answered with its gold ``answer``; or a ``{prompt: answer}``
    map, where an answer may also be a list of answers.

    ``wrap(answer) -> text`` phrases the answer. From a built folder it defaults to :func:`readout_wording` of
    the row's task (bare for the ``text`` readout, else "The answer is ..."); for a map, to the answer as given.

    Rows sharing a prompt: the last row's answer answers it, unless ``in_turn`` (then each call for that
    prompt gets the next of its rows' answers, cycling), which is also how a list in a map is served.
    Every prompt gets ``config.n`` copies of its answer. ``calls`` counts ``generate`` calls, ``prompts`` the
    prompts asked."""

    def __init__(self, source: Path | Mapping[str, str | Sequence[str]], *,
                 tasks: Iterable[str | Task] | None = None, wrap: Callable[[str], str] | None = None,
                 in_turn: bool = False):
        self.answers: dict[str, list[str]] = {}
        if isinstance(source, Mapping):
            for prompt, answer in source.items():
                answers = [answer] if isinstance(answer, str) else list(answer)
                self.answers[prompt] = [wrap(a) for a in answers] if wrap else answers
        else:
            self._read_built(Path(source), tasks, wrap, in_turn)
        self.served: dict[str, int] = {}
        self.calls = 0
        self.prompts = 0

    def _read_built(self, built: Path, tasks, wrap, in_turn: bool) -> None:
        if tasks is None:
            paths = list(built.glob("*/*/test.jsonl"))
        else:
            paths = [p for task in _as_tasks(tasks) for p in (built / task.id).glob("*/test.jsonl")]
        registry = TaskRegistry() if wrap is None else None
        wording: dict[str, Callable[[str], str]] = {}
        for path in paths:
            task_id = path.parent.parent.name
            if wrap is not None:
                phrase = wrap
            else:
                if task_id not in wording:
                    wording[task_id] = readout_wording(registry.get(task_id)["eval"]["readout"])
                phrase = wording[task_id]
            for row in read_jsonl(path):
                answer = phrase(row["answer"])
                if in_turn:
                    self.answers.setdefault(row["prompt"], []).append(answer)
                else:
                    self.answers[row["prompt"]] = [answer]

    def generate(self, prompts, config):
        self.calls += 1
        self.prompts += len(prompts)
        out = []
        for messages in prompts:
            prompt = messages[-1]["content"]
            answers = self.answers[prompt]
            k = self.served.get(prompt, 0)
            self.served[prompt] = k + 1
            out.append(Generation([answers[k % len(answers)]] * config.n))
        return out

    def answer(self, prompt: str) -> str:
        """The (first) answer to ``prompt``, without counting it as served."""
        return self.answers[prompt][0]


def fake_model_dir(tmp_path: Path) -> Path:
    """``<tmp_path>/model``: a model folder ``eval run`` accepts (a Qwen3 config.json and a small weight file,
    both hashed into the run's model identity); nothing loads it with the oracle backend."""
    path = Path(tmp_path) / "model"
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text('{"model_type": "qwen3"}\n')
    (path / "model.safetensors").write_bytes(b"weights" * 100)
    return path


def run_oracle_eval(tasks: str | Task | Iterable[str | Task], built: Path, out_dir: Path, *,
                    oracle: OracleBackend | None = None, wrap: Callable[[str], str] | None = None,
                    model: Path | None = None, **run_options: Any) -> Path:
    """``eval run`` of ``tasks`` on the rows built under ``built`` into ``out_dir``, with ``oracle`` (default: an
    :class:`OracleBackend` answering those tasks' test prompts with their golds, phrased by ``wrap``) on
    ``model`` (default: :func:`fake_model_dir` beside ``out_dir``). ``run_options`` are further
    :class:`RunOptions` fields (``batch_size=``, ...). Returns ``out_dir``."""
    tasks = _as_tasks(tasks)
    if oracle is None:
        oracle = OracleBackend(built, tasks=tasks, wrap=wrap)
    model = model or fake_model_dir(Path(out_dir).parent)
    run_eval(tasks, RunOptions(model=model, data_dir=built, out_dir=out_dir, backend="oracle", **run_options),
             backend_factory=lambda: oracle)
    return out_dir


def results_by_metric(out_dir: Path) -> dict[tuple[str, str, str], dict]:
    """Every line of ``<out_dir>/<task>/<variant>/results.jsonl``, by (task, variant, metric)."""
    return {(r["task"], r["variant"], r["metric"]): r
            for path in Path(out_dir).glob("*/*/results.jsonl") for r in read_jsonl(path)}
