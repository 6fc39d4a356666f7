"""The lazy task registry: task files are found by listing ``<root>/<domain>_<modality>/*.yaml`` (file stem =
task id; names starting with ``_`` are include files, not tasks) and parsed only when asked for.

The root is ``--tasks-dir``, else ``$BIOMATRIX_TASKS_DIR``, else the task files shipped in the package
(``biomatrix_plugin/tasks/defaults``; ``data_registry/tasks`` in a checkout is a link to the same folder).
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

from biomatrix_plugin.errors import ConfigError
from biomatrix_plugin.paths import package_data
from biomatrix_plugin.tasks.converters import CONVERTERS
from biomatrix_plugin.tasks.spec import TABLE30_GROUPS, Task, TaskFileError, parse_task

TASKS_ENV = "BIOMATRIX_TASKS_DIR"


class UnknownTaskError(ConfigError):
    """A task id or group that no task file declares."""


def default_tasks_dir() -> Path:
    value = os.environ.get(TASKS_ENV)
    return Path(value) if value else package_data("tasks", "defaults")


class TaskRegistry:
    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root is not None else default_tasks_dir()
        self._paths: dict[str, Path] | None = None
        self._tasks: dict[str, Task] = {}

    def paths(self) -> dict[str, Path]:
        """Task id -> file, without parsing; two files with one id (in two folders) is an error."""
        if self._paths is None:
            if not self.root.is_dir():
                raise ConfigError(f"task folder {self.root} does not exist (set --tasks-dir or ${TASKS_ENV})")
            found: dict[str, Path] = {}
            for path in sorted(self.root.glob("*/*.yaml")):
                if path.name.startswith("_"):
                    continue
                if path.stem in found:
                    raise TaskFileError(f"task file {path}: task id {path.stem!r} is also {found[path.stem]}")
                found[path.stem] = path
            self._paths = found
        return self._paths

    def ids(self) -> list[str]:
        return sorted(self.paths())

    def get(self, task_id: str) -> Task:
        if task_id not in self._tasks:
            path = self.paths().get(task_id)
            if path is None:
                raise UnknownTaskError(f"unknown task {task_id!r}{_suggest(task_id, self.ids())}; "
                                       f"`biomatrix tasks list` shows the {len(self.paths())} tasks")
            task = parse_task(path, CONVERTERS)
            folder = path.parent.name
            if folder != task.folder:
                raise TaskFileError(f"task file {path}: lives in {folder}/ but declares domain/modality "
                                    f"{task.folder} (move it to {task.folder}/)")
            self._tasks[task_id] = task
        return self._tasks[task_id]

    def all(self) -> list[Task]:
        """Every task, parsed; the problems of every bad file are reported together."""
        tasks, problems = [], []
        for task_id in self.ids():
            try:
                tasks.append(self.get(task_id))
            except TaskFileError as exc:
                problems.extend(exc.problems)
        if problems:
            raise TaskFileError(problems)
        return tasks

    def select(self, selector: str) -> list[Task]:
        """``all``, a task id or a Table 30 group name -> its tasks (in id order)."""
        if selector == "all":
            return self.all()
        if selector in self.paths():
            return [self.get(selector)]
        members = [t for t in self.all() if t.group == selector]
        if members:
            return members
        groups = sorted({t.group for t in self.all()} | set(TABLE30_GROUPS))
        raise UnknownTaskError(f"{selector!r} is neither a task nor a group with tasks"
                               f"{_suggest(selector, self.ids() + groups)} (groups: {', '.join(groups)})")


def _suggest(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
