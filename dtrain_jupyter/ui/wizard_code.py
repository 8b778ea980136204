"""The wizard's "Code" choice: a command line, a function of a notebook file, or a script folder.

"Command" is the wizard's own Command and Arguments fields. The two others build the job the
way the library does from a notebook (issue 14): "Notebook function" reads the chosen notebook
file statically (`code/notebook_file.py`: the panel's kernel never ran that notebook, so there
is no live function to capture) and "Code from a folder" ships a folder snapshot with the job
(`FolderJob` in `code/job.py`). Each choice keeps its own fields, so switching back and forth
loses nothing.

What cannot be used is said at the field it concerns, never as a traceback: a folder that does
not exist, a quote left open in the script's arguments, JSON with its line and column, a name
the function reads that cannot travel, a folder too large for a ConfigMap.
"""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path
from typing import Any, Mapping

import ipywidgets as widgets

from ..code.job import FolderJob
from ..code.notebook_file import (MAX_FOLDERS, MAX_NOTEBOOKS, functions_in, notebook_function_job, notebooks_under,
                                  walk_nearest_first)
from ..code.origin import code_origin, describe
from ..code.packages import split_requirements
from ..errors import InvalidRequest
from ..model.spec import JobSpec
from .callbacks import ErrorForwarder, guarded
from .wizard_fields import Field
from .wizard_words import CODE_CHOICES, CODE_WORDS

__all__ = ["CodeChoice", "python_files", "MAX_SCRIPTS"]

# The entry-script list: a project folder's scripts, bounded for a folder that holds a tree.
MAX_SCRIPTS = 300
_SKIPPED_FOLDERS = frozenset({"__pycache__", "node_modules", "site-packages"})
_NO_FILE = ("(none found)", "")


def python_files(folder: Path, limit: int = MAX_SCRIPTS) -> list[str]:
    """The .py files under `folder`, relative to it, top level first; hidden folders, caches and
    virtual environments (a folder with `pyvenv.cfg`) are skipped; at most `limit`, from at most
    MAX_FOLDERS folders."""
    found: list[str] = []
    for visited, (current, folders, files) in enumerate(walk_nearest_first(folder)):
        if visited >= MAX_FOLDERS:
            break
        here = Path(current)
        folders[:] = sorted(f for f in folders if not f.startswith(".") and f not in _SKIPPED_FOLDERS
                            and not (here / f / "pyvenv.cfg").exists())
        for name in sorted(files):
            if name.endswith(".py") and not name.startswith("."):
                found.append((here / name).relative_to(folder).as_posix())
                if len(found) >= limit:
                    return found
    return found


def _field(key: str, control: widgets.Widget) -> Field:
    words = CODE_WORDS[key]
    field = Field(words.label, control, hint=words.hint)
    field.add_class(f"dtrain-field-{key.replace('_', '-')}")
    return field


class CodeChoice(ErrorForwarder):
    """The Code choice and the fields of its two non-command options.

    `choice_field` goes on the wizard's first step; `folder_box` and `function_box` on the
    Details step, where the Command fields are for the "Command" choice.

    Args:
        root: the panel kernel's working folder: relative folders and the notebook list start there.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.choice = widgets.RadioButtons(options=CODE_CHOICES, value="command", layout=widgets.Layout(width="auto"))
        self.choice.add_class("dtrain-code-choice")
        self.choice_field = _field("code", self.choice)
        # Code from a folder. The folder is read when the person leaves the box (continuous_update
        # off): listing a folder's scripts on every keystroke would walk half-typed paths.
        self.folder = _field("folder", widgets.Text(".", continuous_update=False, placeholder=str(self.root)))
        self.folder.hint_text = f"{CODE_WORDS['folder'].hint} Working folder: {self.root}"
        self.entry = _field("entry", widgets.Dropdown(options=(_NO_FILE,), value=""))
        self.script_args = _field("script_args", widgets.Text("", placeholder="e.g. --epochs 3 --lr 0.1"))
        self.folder_packages = _field("folder_packages", widgets.Text("", placeholder="e.g. einops, numpy>=1.26"))
        self.folder_box = widgets.VBox([self.folder, self.entry, self.script_args, self.folder_packages],
                                       layout=widgets.Layout(width="100%", display="none"))
        self.folder_box.add_class("dtrain-code-folder")
        # Notebook function.
        self.notebook = _field("notebook", widgets.Dropdown(options=(_NO_FILE,), value=""))
        self.function = _field("function", widgets.Dropdown(options=(_NO_FILE,), value=""))
        self.call_args = _field("call_args", widgets.Textarea("{}", rows=3, placeholder='{"lr": 0.1}'))
        self.function_packages = _field("function_packages",
                                        widgets.Text("", placeholder="e.g. einops, numpy>=1.26"))
        self.function_box = widgets.VBox([self.notebook, self.function, self.call_args, self.function_packages],
                                         layout=widgets.Layout(width="100%", display="none"))
        self.function_box.add_class("dtrain-code-function")
        self.fields: dict[str, Field] = {
            "code": self.choice_field, "folder": self.folder, "entry": self.entry, "script_args": self.script_args,
            "folder_packages": self.folder_packages, "notebook": self.notebook, "function": self.function,
            "call_args": self.call_args, "function_packages": self.function_packages}
        self._notebooks_listed = False
        self._parameters: dict[str, str] = {}
        self.choice.observe(self._on_choice, "value")
        self.folder.control.observe(self._on_folder, "value")
        self.notebook.control.observe(self._on_notebook, "value")
        self.function.control.observe(self._on_function, "value")

    # ------------------------------------------------------------------ what the wizard reads
    @property
    def source(self) -> str:
        """"command", "function" or "folder"."""
        return str(self.choice.value)

    def folder_path(self) -> Path:
        """The folder field as an absolute path (relative ones start at `root`)."""
        typed = Path(os.path.expanduser(self.folder.value.strip() or "."))
        return typed if typed.is_absolute() else (self.root / typed).resolve()

    def notebook_path(self) -> Path:
        return self.root / self.notebook.value

    def clear_errors(self) -> None:
        for field in self.fields.values():
            field.error = ""

    def build(self, *, kind: str, name: str, workers: int | None, image: str | None, cpu: str | None,
              memory: str | None, gpu: int | None, env: Mapping[str, str] | None, namespace: str | None,
              mpi_version: str | None) -> JobSpec | None:
        """The job the chosen code makes, or None when a field cannot be used (its error is shown).

        Raises:
            InvalidJob: the job is one the operator would refuse (the wizard routes its issues).
        """
        common: dict[str, Any] = dict(kind=kind, name=name, workers=workers, image=image, cpu=cpu, memory=memory,
                                      gpu=gpu, env=dict(env) if env else None, namespace=namespace,
                                      mpi_version=mpi_version)
        if self.source == "folder":
            return self._build_folder(common)
        if self.source == "function":
            return self._build_function(common)
        raise ValueError("the Command choice is built by the wizard's own fields")

    @staticmethod
    def origin_words(spec: JobSpec) -> str:
        """Where the spec's code comes from, in words ("" for a plain command)."""
        origin = code_origin(spec)
        return describe(origin) if origin else ""

    # ------------------------------------------------------------------ building
    def _build_folder(self, common: dict[str, Any]) -> JobSpec | None:
        folder = self.folder_path()
        problems: dict[str, str] = {}
        if not folder.is_dir():
            problems["folder"] = f"There is no folder {folder}."
        elif not self.entry.value:
            problems["entry"] = f"{folder} holds no .py file to run."
        try:
            argv = shlex.split(self.script_args.value)
        except ValueError as e:
            problems["script_args"] = f"The arguments cannot be split into words: {e}."
        packages = split_requirements(self.folder_packages.value)
        if problems:
            self._show(problems)
            return None
        try:
            return FolderJob(self.entry.value, workdir=str(folder), args=argv, packages=packages, **common)
        except InvalidRequest as e:
            self._show({self._folder_field_for(e): e.message})
            return None

    def _build_function(self, common: dict[str, Any]) -> JobSpec | None:
        problems: dict[str, str] = {}
        if not self.notebook.value:
            problems["notebook"] = f"No notebook was found under {self.root}."
        elif not self.function.value:
            problems["function"] = f"{self.notebook.value} defines no function at the top level of a code cell."
        args = self._read_args(problems)
        packages = split_requirements(self.function_packages.value)
        if problems:
            self._show(problems)
            return None
        try:
            return notebook_function_job(self.notebook_path(), self.function.value, notebook=self.notebook.value,
                                         args=args, packages=packages, **common)
        except InvalidRequest as e:
            self._show({self._function_field_for(e): e.message})
            return None

    def _read_args(self, problems: dict[str, str]) -> dict[str, Any] | None:
        text = self.call_args.value.strip()
        if not text:
            return {}
        try:
            value = json.loads(text)
        except json.JSONDecodeError as e:
            problems["call_args"] = f"Line {e.lineno}, column {e.colno}: {e.msg}."
            return None
        if not isinstance(value, dict):
            problems["call_args"] = (f"Write a JSON object of keyword arguments, e.g. {{\"lr\": 0.1}}, "
                                     f"not a {type(value).__name__}.")
            return None
        return value

    @staticmethod
    def _names(e: InvalidRequest) -> list[str]:
        names = e.fields.get("names")
        return [str(n) for n in names] if isinstance(names, list) else []

    def _folder_field_for(self, e: InvalidRequest) -> str:
        names = self._names(e)
        if any(n.startswith("packages") for n in names):
            return "folder_packages"
        if any(n.startswith("args") for n in names):
            return "script_args"
        if any(n in ("script", "entry") for n in names):
            return "entry"
        return "code" if "kind" in names else "folder"

    def _function_field_for(self, e: InvalidRequest) -> str:
        names = self._names(e)
        if any(n.startswith("packages") for n in names):
            return "function_packages"
        if any(n.startswith("args") for n in names):
            return "call_args"
        if names == ["notebook"]:
            return "notebook"
        return "code" if "kind" in names else "function"

    def _show(self, problems: dict[str, str]) -> None:
        for key, message in problems.items():
            self.fields[key].error = message

    # ------------------------------------------------------------------ reactions
    @guarded
    def _on_choice(self, change: dict[str, Any]) -> None:
        self.show()

    def show(self) -> None:
        """Show the chosen option's fields; the notebooks are listed when first needed."""
        self.folder_box.layout.display = "" if self.source == "folder" else "none"
        self.function_box.layout.display = "" if self.source == "function" else "none"
        if self.source == "folder" and self.entry.value == "":
            self.refresh_scripts()
        if self.source == "function" and not self._notebooks_listed:
            self.refresh_notebooks()

    def refresh_scripts(self) -> None:
        """List the folder's .py files in the Script dropdown, keeping the chosen one if it is there."""
        folder = self.folder_path()
        self.folder.error = "" if folder.is_dir() else f"There is no folder {folder}."
        found = python_files(folder) if folder.is_dir() else []
        current = self.entry.value
        self.entry.control.options = tuple((f, f) for f in found) or (_NO_FILE,)
        self.entry.value = current if current in found else ("train.py" if "train.py" in found else
                                                               (found[0] if found else ""))
        if folder.is_dir() and not found:
            self.entry.error = f"{folder} holds no .py file."
        else:
            self.entry.error = ""

    def refresh_notebooks(self) -> None:
        """List the notebooks under `root` (at most MAX_NOTEBOOKS), keeping the chosen one."""
        self._notebooks_listed = True
        found = notebooks_under(self.root)
        current = self.notebook.value
        self.notebook.control.options = tuple((f, f) for f in found) or (_NO_FILE,)
        self.notebook.hint_text = CODE_WORDS["notebook"].hint + (
            f" The first {MAX_NOTEBOOKS} are listed." if len(found) >= MAX_NOTEBOOKS else "")
        self.notebook.error = "" if found else f"No notebook was found under {self.root}."
        new = current if current in found else (found[0] if found else "")
        if new == self.notebook.value:
            self.refresh_functions()
        else:
            self.notebook.value = new  # _on_notebook lists its functions

    def refresh_functions(self) -> None:
        """List the chosen notebook's top-level functions; an unreadable notebook says why."""
        found: list[tuple[str, str]] = []
        if self.notebook.value:
            self.notebook.error = ""
            try:
                found = [(f.name, f.parameters) for f in functions_in(self.notebook_path())]
            except InvalidRequest as e:
                self.notebook.error = e.message
        self._parameters = dict(found)
        current = self.function.value
        names = [n for n, _ in found]
        self.function.control.options = tuple((f"{n}({p})", n) for n, p in found) or (_NO_FILE,)
        new = current if current in names else (names[-1] if names else "")
        if new == self.function.value:
            self._describe_parameters()
        else:
            self.function.value = new  # _on_function says its parameters
        if self.notebook.value and not found and not self.notebook.error:
            self.function.error = f"{self.notebook.value} defines no function at the top level of a code cell."
        else:
            self.function.error = ""

    def _describe_parameters(self) -> None:
        parameters = self._parameters.get(self.function.value)
        said = (f" {self.function.value} takes: {parameters}." if parameters else
                f" {self.function.value} takes no arguments." if self.function.value else "")
        self.call_args.hint_text = CODE_WORDS["call_args"].hint + said

    @guarded
    def _on_folder(self, change: dict[str, Any]) -> None:
        self.refresh_scripts()

    @guarded
    def _on_notebook(self, change: dict[str, Any]) -> None:
        self.refresh_functions()

    @guarded
    def _on_function(self, change: dict[str, Any]) -> None:
        self._describe_parameters()
