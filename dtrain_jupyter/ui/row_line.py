"""The first line of a job row: its checkbox, name (the expander), facts and Log/Output/Metrics buttons.

It is drawn one of two ways, with the same Python face (`JobRow` uses either alike):

- `WidgetLine`, core ipywidgets: a Checkbox, the name Button, an HTML of facts and three Buttons,
  six widget models, each a `comm_open` the kernel sends and a view the browser builds. They
  are the row's children. Every front end draws it (JupyterLab, Notebook 7, VS Code).
- `DrawnLine`, no model of its own: the line is state of its row's model (`DrawnLineState`,
  which job_row.DrawnJobRow carries), and the labextension's row view (`JobRowView`,
  labextension/src/row_line.ts) draws the same elements, with the same classes, as plain DOM,
  then lays the row's children (its pods) under them. Only a front end with dtrain-jupyter's
  labextension has that view, so the panel uses it where the labextension itself opened the
  panel (`show_panel(labextension=True)`, which its launcher card and sidebar run). A page of
  50 rows is then 50 widget models instead of about 350: on a panel opened by a click that
  starts the kernel, making and drawing the models was most of the panel's own time
  (benchmarks/findings/panel-open.md).

Both answer the same calls: `show` writes the name and facts, `expanded` and `selected` set the
state, `set_title` a button's title, `hold_sync` makes the changes inside it one message per
model; `on_click` hears the name ("name") or a button ("log", "output", "metrics"), `on_select`
the checkbox. `click` and `selected` let tests act as a person, and `close` closes every model
the line opened (the row's own close leaves its children open). A line is built before its row
(`state` is what the row opens with) and tied to it by `attach`.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, ContextManager, Iterator

import ipywidgets as widgets
from traitlets import Bool, Dict, Tuple, Unicode

from .assistive import EXPANDED, EXPANDER, NAME_ONLY
from .own_widget import OwnModule

#: The buttons a line carries after its facts, in order, with their labels.
BUTTONS = (("log", "Log"), ("output", "Output"), ("metrics", "Metrics"))
#: The class of each button (browser tests and people's CSS select on them).
BUTTON_CLASSES = {"log": "dtrain-row-log", "output": "dtrain-row-output", "metrics": "dtrain-row-metrics"}
#: What `on_click` callbacks hear for the name (the row's expander).
NAME = "name"

ClickCallback = Callable[[str], None]
SelectCallback = Callable[[bool], None]


def css_text(spec: dict[str, str]) -> str:
    """Layout keyword arguments as CSS: {"min_width": "0"} -> "min-width:0"."""
    return ";".join(f"{key.replace('_', '-')}:{value}" for key, value in spec.items())


class _Callbacks:
    """The line's listeners, shared by both ways of drawing it."""

    def __init__(self) -> None:
        self._on_click: list[ClickCallback] = []
        self._on_select: list[SelectCallback] = []

    def on_click(self, callback: ClickCallback) -> None:
        """Call `callback(part)` when the name ("name") or a button ("log", ...) is clicked."""
        self._on_click.append(callback)

    def on_select(self, callback: SelectCallback) -> None:
        """Call `callback(ticked)` when the person ticks or unticks the checkbox."""
        self._on_select.append(callback)

    def _clicked(self, part: str) -> None:
        for callback in self._on_click:
            callback(part)

    def _selected(self, ticked: bool) -> None:
        for callback in self._on_select:
            callback(ticked)


class WidgetLine(_Callbacks):
    """The line as core ipywidgets, drawn by every front end.

    Args:
        look: the list's shared layouts and styles (job_row.RowLook).
        name, name_tooltip, facts: what `show` writes later; the widgets open with it.
        check_label: the checkbox's accessible name ("Select job-7").
        tooltips: the buttons' titles, by part.
    """

    def __init__(self, look: Any, name: str, name_tooltip: str, facts: str, check_label: str,
                 tooltips: dict[str, str]) -> None:
        super().__init__()
        # Every widget is opened with its final state and classes: an add_class or a value set
        # after construction is one more message per widget, and a page of rows has hundreds.
        # The checkbox's name is its description, read by screen readers but not shown (the row
        # says whose box it is); a title alone is no accessible name (axe-core's
        # label-title-only). Set here, not through assistive.name_only: one message per widget.
        self.check = widgets.Checkbox(False, indent=False, description=check_label, description_allow_html=False,
                                      tooltip=check_label, layout=look.check, style=look.check_style,
                                      _dom_classes=("dtrain-select", NAME_ONLY))
        # The expander: keyboard.ts gives it aria-expanded from the EXPANDED class.
        self.name_button = widgets.Button(description=name, tooltip=name_tooltip, layout=look.name,
                                          style=look.button_style, _dom_classes=("dtrain-name", EXPANDER))
        self.facts_html = widgets.HTML(facts, layout=look.facts, style=look.html_style,
                                       _dom_classes=("dtrain-facts",))
        self.buttons = {part: widgets.Button(description=label, tooltip=tooltips.get(part, ""),
                                             layout=getattr(look, part), style=look.button_style,
                                             _dom_classes=(BUTTON_CLASSES[part],))
                        for part, label in BUTTONS}
        # In the ~300 px sidebar the buttons move under the expanded row, or the name and status
        # would be squeezed to nothing.
        buttons = tuple(self.buttons.values())
        self.widgets: tuple[widgets.Widget, ...] = (self.check, self.name_button, self.facts_html,
                                                     *(() if look.compact else buttons))
        self.under: tuple[widgets.Widget, ...] = (widgets.HBox(buttons, layout=look.full_width),) if look.compact else ()
        self.state: dict[str, Any] = {}  # the row opens with no state of the line's: the widgets hold it
        self.check.observe(lambda change: self._selected(bool(change["new"])), "value")
        self.name_button.on_click(lambda _button: self._clicked(NAME))
        for part, button in self.buttons.items():
            button.on_click(lambda _button, part=part: self._clicked(part))

    def attach(self, row: widgets.Box) -> None:
        """Nothing to tie: the row shows the line's widgets as its children."""

    def show(self, name: str, name_tooltip: str, facts: str) -> None:
        with self.hold_sync():
            self.name_button.description = name
            self.name_button.tooltip = name_tooltip
            self.facts_html.value = facts

    @contextmanager
    def hold_sync(self) -> Iterator[None]:
        """Changes to the name and facts inside send at most one message per widget (as a widget's own)."""
        with self.name_button.hold_sync(), self.facts_html.hold_sync():
            yield

    @property
    def expanded(self) -> bool:
        return EXPANDED in self.name_button._dom_classes

    @expanded.setter
    def expanded(self, value: bool) -> None:
        if value:
            self.name_button.add_class(EXPANDED)
        else:
            self.name_button.remove_class(EXPANDED)

    @property
    def selected(self) -> bool:
        return bool(self.check.value)

    @selected.setter
    def selected(self, value: bool) -> None:
        self.check.value = value

    @property
    def name(self) -> str:
        return self.name_button.description

    @property
    def facts(self) -> str:
        return self.facts_html.value

    def title(self, part: str) -> str:
        """The title (tooltip) of the name or a button."""
        return self.name_button.tooltip if part == NAME else self.buttons[part].tooltip

    def set_title(self, part: str, text: str) -> None:
        self.buttons[part].tooltip = text

    def click(self, part: str) -> None:
        """Click the name or a button, as a person would."""
        (self.name_button if part == NAME else self.buttons[part]).click()

    def close(self) -> None:
        for widget in {*self.widgets, *self.under, *self.buttons.values()}:
            widget.close()


class DrawnLineState(OwnModule):
    """The traits of a line the labextension draws, kept on its row's own widget model.

    A row with these traits (job_row.DrawnJobRow) is one model: the labextension's row view
    (`JobRowView`, labextension/src/row_line.ts) draws the line from them and lays the row's
    children (its pods) under it, as a box lays out its children.
    """

    _model_name = Unicode("JobRowModel").tag(sync=True)
    _view_name = Unicode("JobRowView").tag(sync=True)

    line_name = Unicode("", help="The name button's text (the arrow and the job's name)").tag(sync=True)
    line_name_tooltip = Unicode("", help="The name button's title").tag(sync=True)
    line_expanded = Bool(False, help="Whether the row shows its pods; the name button is marked expanded").tag(
        sync=True)
    line_facts = Unicode("", help="The facts grid, HTML already escaped (job_row.grid)").tag(sync=True)
    line_check_label = Unicode("", help="The checkbox's accessible name, not shown").tag(sync=True)
    line_selected = Bool(False, help="Whether the checkbox is ticked; the view sets it on a tick").tag(sync=True)
    line_buttons = Tuple(help="((part, label, title), ...) of the buttons after the facts").tag(sync=True)
    line_buttons_under = Bool(False, help="The sidebar's layout: the buttons go under the line, shown while "
                                          "expanded").tag(sync=True)
    line_styles = Dict(help="CSS text by part ('check', 'name', 'facts', 'log', ...): the widths the header's "
                            "widgets have too").tag(sync=True)


class DrawnLine(_Callbacks):
    """The line as state of its row's own model (`DrawnLineState`), drawn by the labextension's view.

    The view draws the elements `WidgetLine` has, with their classes, so the panel's CSS,
    keyboard.ts and the browser tests find the same checkbox, expander and buttons. The line
    opens no model of its own: `state` is what its row opens with, and `attach` ties the line to
    the row once the row exists (its ticks and clicks come through the row's model).
    """

    def __init__(self, look: Any, name: str, name_tooltip: str, facts: str, check_label: str,
                 tooltips: dict[str, str]) -> None:
        super().__init__()
        self.widgets: tuple[widgets.Widget, ...] = ()
        self.under: tuple[widgets.Widget, ...] = ()
        self.state: dict[str, Any] = {
            "line_name": name, "line_name_tooltip": name_tooltip, "line_facts": facts,
            "line_check_label": check_label, "line_buttons": _button_specs(tooltips),
            "line_buttons_under": look.compact, "line_styles": look.part_styles}
        self._row: Any = None

    def attach(self, row: DrawnLineState) -> None:
        """Draw into `row` (opened with `state`) and hear its view's ticks and clicks."""
        self._row = row
        row.on_msg(self._on_view_msg)
        row.observe(lambda change: self._selected(bool(change["new"])), "line_selected")

    def _on_view_msg(self, _widget: Any, content: Any, _buffers: Any) -> None:
        # What the view sends is checked, not trusted: any other message is ignored.
        if not isinstance(content, dict) or content.get("event") != "click":
            return
        part = content.get("part")
        if isinstance(part, str) and (part == NAME or part in BUTTON_CLASSES):
            self._clicked(part)

    def show(self, name: str, name_tooltip: str, facts: str) -> None:
        with self._row.hold_sync():
            self._row.line_name = name
            self._row.line_name_tooltip = name_tooltip
            self._row.line_facts = facts

    def hold_sync(self) -> ContextManager[None]:
        """Changes to the line inside go out as one message of the row's model."""
        return self._row.hold_sync()

    @property
    def expanded(self) -> bool:
        return self._row.line_expanded

    @expanded.setter
    def expanded(self, value: bool) -> None:
        self._row.line_expanded = value

    @property
    def selected(self) -> bool:
        return self._row.line_selected

    @selected.setter
    def selected(self, value: bool) -> None:
        self._row.line_selected = value

    @property
    def name(self) -> str:
        return self._row.line_name

    @property
    def facts(self) -> str:
        return self._row.line_facts

    @property
    def check_label(self) -> str:
        return self._row.line_check_label

    @property
    def buttons_under(self) -> bool:
        return self._row.line_buttons_under

    @property
    def part_styles(self) -> dict[str, str]:
        return self._row.line_styles

    def title(self, part: str) -> str:
        """The title (tooltip) of the name or a button."""
        if part == NAME:
            return self._row.line_name_tooltip
        return next(title for each, _label, title in self._row.line_buttons if each == part)

    def set_title(self, part: str, text: str) -> None:
        self._row.line_buttons = tuple((each, label, text if each == part else title)
                                       for each, label, title in self._row.line_buttons)

    def click(self, part: str) -> None:
        """Click the name or a button, as a person would (the view's message, handled here)."""
        self._on_view_msg(self._row, {"event": "click", "part": part}, None)

    def close(self) -> None:
        """Nothing to close: the line is its row's model, which the row closes."""


def _button_specs(tooltips: dict[str, str]) -> tuple[tuple[str, str, str], ...]:
    return tuple((part, label, tooltips.get(part, "")) for part, label in BUTTONS)
