"""The panel's CSS, written only with JupyterLab theme variables so light and dark both work.

Every rule is scoped under `.dtrain-panel`, the class the app's root widget carries, so the
panel never restyles the rest of JupyterLab. Colours come from `--jp-*` variables (the same
ones JupyterLab's own widgets use); the few literal fallbacks are there for a notebook front
end that lacks a variable, never instead of one.
"""

from __future__ import annotations

import ipywidgets as widgets
from ipywidgets.widgets.widget_button import ButtonStyle
from ipywidgets.widgets.widget_string import HTMLStyle

from ..model.status import Phase

# Phase -> theme colour variable. JupyterLab defines the four "state" palettes in both themes.
PHASE_COLOURS: dict[str, str] = {
    Phase.PENDING.value: "var(--jp-warn-color1, #f57c00)",
    Phase.RUNNING.value: "var(--jp-brand-color1, #1976d2)",
    Phase.RESTARTING.value: "var(--jp-warn-color0, #e65100)",
    Phase.SUCCEEDED.value: "var(--jp-success-color1, #388e3c)",
    Phase.FAILED.value: "var(--jp-error-color1, #d32f2f)",
    Phase.SUSPENDED.value: "var(--jp-ui-font-color2, #757575)",
    Phase.DELETING.value: "var(--jp-ui-font-color2, #757575)",
    Phase.UNKNOWN.value: "var(--jp-ui-font-color2, #757575)",
}

_PHASE_RULES = "\n".join(
    f".dtrain-panel .dtrain-phase-{phase} {{ color: {colour}; font-weight: 600; }}"
    for phase, colour in PHASE_COLOURS.items()
)

# ipywidgets gives every widget a 2px margin on each side, so a child made 100% wide (the shared
# `PanelLook.full`, and most boxes here) is 4px wider than its box, and that box (widget boxes
# have overflow: auto) shows a horizontal scrollbar for good (issue 17). In a column the side
# margins only make a gutter, which the panel's padding already gives, so the children of the
# panel's column boxes have none.
# Notices (banner, info, confirm) sit on the layout colour with a coloured left edge: the
# --jp-*-color3 tints stay light in the dark theme, where light text on them is unreadable.
CSS = f"""
.dtrain-panel {{
  color: var(--jp-ui-font-color1);
  background: var(--jp-layout-color1);
  font-family: var(--jp-ui-font-family);
  font-size: var(--jp-ui-font-size1);
  padding: 4px;
  box-sizing: border-box;
}}
.dtrain-panel.widget-vbox > .jupyter-widgets,
.dtrain-panel .widget-vbox > .jupyter-widgets {{ margin-left: 0; margin-right: 0; }}
.dtrain-panel .dtrain-title {{ font-size: var(--jp-ui-font-size2); font-weight: 600; }}
.dtrain-panel .dtrain-muted {{ color: var(--jp-ui-font-color2); }}
.dtrain-panel .dtrain-banner {{
  background: var(--jp-layout-color2);
  color: var(--jp-ui-font-color1);
  border-left: 4px solid var(--jp-error-color1, #d32f2f);
  padding: 4px 8px;
}}
.dtrain-panel .dtrain-info {{
  background: var(--jp-layout-color2);
  color: var(--jp-ui-font-color1);
  border-left: 4px solid var(--jp-info-color1, #0288d1);
  padding: 4px 8px;
}}
.dtrain-panel .dtrain-error {{
  color: var(--jp-error-color1, #d32f2f);
  white-space: pre-wrap;
}}
.dtrain-panel .dtrain-field-error {{ color: var(--jp-error-color1, #d32f2f); font-size: var(--jp-ui-font-size0); }}
.dtrain-panel .dtrain-row {{
  border-bottom: 1px solid var(--jp-border-color2);
  align-items: center;
}}
.dtrain-panel .dtrain-row:hover {{ background: var(--jp-layout-color2); }}
.dtrain-panel .dtrain-row-selected {{ background: var(--jp-layout-color3); }}
.dtrain-panel .dtrain-header {{
  font-weight: 600;
  border-bottom: 2px solid var(--jp-border-color1);
}}
.dtrain-panel .dtrain-events .widget-html-content {{ line-height: 1.4; font-size: var(--jp-ui-font-size0); }}
.dtrain-panel .dtrain-cell {{ overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }}
.dtrain-panel .dtrain-pods {{
  margin-left: 24px;
  border-left: 2px solid var(--jp-border-color1);
  padding-left: 6px;
}}
.dtrain-panel pre.dtrain-log, .dtrain-panel pre.dtrain-preview {{
  font-family: var(--jp-code-font-family);
  font-size: var(--jp-code-font-size);
  background: var(--jp-layout-color2);
  color: var(--jp-content-font-color1);
  max-height: 420px;
  overflow: auto;
  margin: 0;
  padding: 4px;
  white-space: pre-wrap;
  word-break: break-all;
}}
.dtrain-panel table.dtrain-table {{ border-collapse: collapse; }}
.dtrain-panel table.dtrain-table td, .dtrain-panel table.dtrain-table th {{
  border: 1px solid var(--jp-border-color2);
  padding: 2px 6px;
  text-align: left;
  color: var(--jp-ui-font-color1);
}}
.dtrain-panel textarea {{ font-family: var(--jp-code-font-family); }}
.dtrain-panel .dtrain-confirm {{
  border: 1px solid var(--jp-warn-color1, #f57c00);
  border-left-width: 4px;
  padding: 4px 8px;
  background: var(--jp-layout-color2);
  color: var(--jp-ui-font-color1);
}}
{_PHASE_RULES}
"""


class PanelLook:
    """Layout and Style models that the panel's fixed widgets share, one set per panel.

    Every Layout and Style is a widget model of its own: a message from the kernel and a build
    in the browser before the panel first shows. Widgets whose layout never changes share these;
    a widget that is shown and hidden (its `layout.display` changes) keeps a Layout of its own.
    """

    def __init__(self) -> None:
        self.full = widgets.Layout(width="100%")
        self.auto = widgets.Layout(width="auto")
        self.wrap = widgets.Layout(width="100%", flex_flow="row wrap")
        self.button = ButtonStyle()
        self.html = HTMLStyle()


def style_widget() -> widgets.HTML:
    """An HTML widget holding the `<style>` element; it renders nothing visible."""
    return widgets.HTML(f"<style>{CSS}</style>", layout=widgets.Layout(display="none"))


def phase_class(phase: str) -> str:
    """CSS class for a phase's colour; unknown phases get the neutral colour."""
    return f"dtrain-phase-{phase}" if phase in PHASE_COLOURS else "dtrain-phase-Unknown"
