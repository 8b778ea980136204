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

from ..render import MUTED, PHASE_COLOURS, readable

__all__ = ["CSS", "ERROR_TEXT", "MUTED", "PHASE_COLOURS", "PHASE_WIDTH", "PanelLook", "phase_class", "style_widget"]


# Error text: the dark theme's --jp-error-color1 reads at 4.4:1 on the panel; 80:20 keeps it red
# and over 5:1 in both themes. Phases and muted text take the colours every face shares
# (render.PHASE_COLOURS and render.MUTED: the notebook's badges are the panel's colours).
ERROR_TEXT = readable("var(--jp-error-color1, #d32f2f)", 80)

# Room for the longest phase word ("Restarting", bold) where a narrow layout gives a phase a
# column of its own (the sidebar's job rows and pod lines), so it is never cut.
PHASE_WIDTH = "7.5em"

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
# List cells wrap between words rather than being cut ("Succeeded PyTorchJobSu…", issue 17), at
# a line height of their own (the HTML widget's 28px would make a wrapped cell twice as tall).
# A row's line drawn by the labextension (row_line.py) takes no box of its own: its parts are
# items of the row's flex line, as core widgets are.
# A ticked row is marked by a bar at its left edge on the hover colour: the darker
# --jp-layout-color3 it had left coloured phases at 2.2:1 (an axe-core audit). Plain buttons on
# that grey (a hovered or ticked row, the delete confirmation) take the panel's background, or
# they would be grey on grey and read as plain text.
# A pod's name is text to select and copy (kubectl, a search): whole, wrapping at need. So is a
# job's name on its expander button: the sidebar cut every generated name to "fr-mpi-c39…". Links
# that do one thing in one click (download a file or a log) look like the panel's buttons. The
# output file table is exactly as wide as its box (its right border was clipped); paths wrap.
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
.dtrain-panel .dtrain-muted {{ color: {MUTED}; }}
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
  color: {ERROR_TEXT};
  white-space: pre-wrap;
}}
.dtrain-panel .dtrain-field-error {{ color: {ERROR_TEXT}; font-size: var(--jp-ui-font-size0); }}
.dtrain-panel .dtrain-row {{
  border-bottom: 1px solid var(--jp-border-color2);
  align-items: center;
}}
.dtrain-panel .dtrain-line {{ display: contents; }}
.dtrain-panel .dtrain-row:hover {{ background: var(--jp-layout-color2); }}
.dtrain-panel .dtrain-row-selected {{
  background: var(--jp-layout-color2);
  box-shadow: inset 3px 0 0 var(--jp-brand-color1);
}}
.dtrain-panel .dtrain-row:hover .jupyter-button:not(:active):not([class*="mod-"]),
.dtrain-panel .dtrain-row-selected .jupyter-button:not(:active):not([class*="mod-"]),
.dtrain-panel .dtrain-confirm .jupyter-button:not(:active):not([class*="mod-"]) {{
  background: var(--jp-layout-color1);
}}
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
.dtrain-panel .dtrain-grid {{ line-height: 1.35; }}
.dtrain-panel .dtrain-grid .dtrain-cell {{ white-space: normal; text-overflow: clip; }}
.dtrain-panel .dtrain-grid [class^="dtrain-phase-"] {{ white-space: nowrap; }}
.dtrain-panel .dtrain-reason {{ font-size: var(--jp-ui-font-size0); }}
.dtrain-panel .dtrain-pod-name {{
  white-space: normal;
  overflow-wrap: anywhere;
  line-height: 1.3;
  height: auto;
  min-height: var(--jp-widgets-inline-height);
  align-self: center;
  display: flex;
  align-items: center;
  user-select: text;
  cursor: text;
}}
.dtrain-panel button.dtrain-name {{
  white-space: normal;
  overflow-wrap: anywhere;
  height: auto;
  min-height: var(--jp-widgets-inline-height);
  line-height: 1.3;
  padding-top: 4px;
  padding-bottom: 4px;
}}
.dtrain-panel.dtrain-compact .dtrain-pods {{ margin-left: 8px; }}
.dtrain-panel .dtrain-pod-reason {{ font-size: var(--jp-ui-font-size1); }}
.dtrain-panel .dtrain-pods-notice {{ font-style: italic; }}
.dtrain-panel a.dtrain-link-button {{
  display: inline-block;
  padding: 0 10px;
  line-height: 24px;
  color: var(--jp-ui-font-color1);
  background: var(--jp-layout-color2);
  border: 1px solid var(--jp-border-color1);
  border-radius: 2px;
  text-decoration: none;
  white-space: nowrap;
}}
.dtrain-panel a.dtrain-link-button:hover {{ background: var(--jp-layout-color3); }}
.dtrain-panel a.dtrain-open-in-lab {{ color: var(--jp-content-link-color); text-decoration: underline; }}
.dtrain-panel .dtrain-log-controls {{ column-gap: 14px; row-gap: 4px; }}
.dtrain-panel .dtrain-log-download .widget-html-content {{
  display: flex;
  flex-wrap: wrap;
  gap: 4px;
  align-items: center;
}}
.dtrain-panel .dtrain-output-location .widget-html-content {{ line-height: 1.4; overflow-wrap: anywhere; }}
.dtrain-panel table.dtrain-file-table {{ width: 100%; box-sizing: border-box; table-layout: fixed; line-height: 1.5; }}
.dtrain-panel table.dtrain-file-table td.dtrain-file-path {{ overflow-wrap: anywhere; }}
.dtrain-panel table.dtrain-file-table .dtrain-file-size {{ width: 5.5em; white-space: nowrap; }}
.dtrain-panel table.dtrain-file-table .dtrain-file-modified {{ width: 6.5em; white-space: nowrap; }}
.dtrain-panel table.dtrain-file-table .dtrain-file-actions {{ width: 11em; white-space: nowrap; }}
.dtrain-panel.dtrain-compact table.dtrain-file-table .dtrain-file-modified {{ display: none; }}
.dtrain-panel.dtrain-compact table.dtrain-file-table .dtrain-file-actions {{ width: 7.5em; white-space: normal; }}
.dtrain-panel .dtrain-output-summary .widget-html-content {{ line-height: 1.5; overflow-wrap: break-word; }}
.dtrain-panel table.dtrain-replica-table .dtrain-col-replica {{ overflow-wrap: anywhere; }}
.dtrain-panel.dtrain-compact table.dtrain-replica-table .dtrain-col-role,
.dtrain-panel.dtrain-compact table.dtrain-replica-table .dtrain-col-index,
.dtrain-panel.dtrain-compact table.dtrain-replica-table .dtrain-col-reason {{ display: none; }}
{_PHASE_RULES}
"""

# Wizard words and review summary: a plain label may wrap to two lines beside its input; the
# YAML path in each hint is quiet code that breaks anywhere rather than widen a narrow panel;
# the review's summary table, command line and totals.
CSS += """
.dtrain-panel .dtrain-field-label > .widget-html-content {
  line-height: 1.3;
  white-space: normal;
  padding: 5px 8px 0 0;
}
.dtrain-panel .dtrain-field-hint > .widget-html-content,
.dtrain-panel .dtrain-np-note > .widget-html-content,
.dtrain-panel .dtrain-wizard-note > .widget-html-content,
.dtrain-panel .dtrain-summary-box > .widget-html-content {
  line-height: 1.4;
  white-space: normal;
  min-width: 0;
}
.dtrain-panel .dtrain-field-hint > .widget-html-content { font-size: var(--jp-ui-font-size0); }
.dtrain-panel code.dtrain-yaml-path {
  font-family: var(--jp-code-font-family);
  font-size: var(--jp-ui-font-size0);
  color: var(--jp-ui-font-color2);
  overflow-wrap: anywhere;
}
.dtrain-panel .dtrain-summary { margin-bottom: 8px; }
.dtrain-panel .dtrain-code-origin > .widget-html-content {
  white-space: nowrap;
  overflow: hidden;
  text-overflow: ellipsis;
  min-width: 0;
}
.dtrain-panel .dtrain-summary-line { margin: 2px 0; overflow-wrap: anywhere; }
.dtrain-panel .dtrain-summary-key { color: var(--jp-ui-font-color2); }
.dtrain-panel .dtrain-summary-key::after { content: ":"; }
.dtrain-panel table.dtrain-summary-roles { margin: 4px 0; }
.dtrain-panel table.dtrain-summary-roles tr.dtrain-summary-total td {
  font-weight: 600;
  border-top: 2px solid var(--jp-border-color1);
}
.dtrain-panel code.dtrain-summary-command {
  font-family: var(--jp-code-font-family);
  color: var(--jp-content-font-color1);
  white-space: pre-wrap;
  overflow-wrap: anywhere;
}
"""

# Keyboard and screen-reader help (issue 17, item 4; see also assistive.py):
# - Focus shows as a 2px ring in the theme's brand colour on everything the panel lets a person
#   focus. ipywidgets' own is a 1px light-blue outline on buttons (2.2:1 on white), only a border
#   tint on inputs and selects, and Chromium's ring on a checkbox is near-black, lost in the dark
#   theme. :focus-visible, so a mouse click on a button draws no ring; !important, because
#   ipywidgets sets `outline: none !important` on its text inputs and selects.
# - A control named for screen readers only (`assistive.NAME_ONLY`) keeps ipywidgets' <label>,
#   its accessible name, but out of sight: clipped to nothing, not display:none, which would
#   hide it from screen readers too.
# - The tab titles not chosen read in the main text colour: ipywidgets draws them in
#   --jp-ui-font-color2 on --jp-layout-color2, 4.45:1 in light and 4.2:1 in dark (under 4.5:1).
# - A followed log is laid out bottom-up (column-reverse): its box opens at the newest line and
#   stays there each time the view re-renders, where it jumped back to the first line.
# - A success button (Create) has its fill darkened in light themes and lightened in dark ones:
#   white on light's --jp-success-color1 reads at 4.1:1. Its text is the inverse colour, so
#   the mix toward --jp-ui-font-color0 helps in both (5.4:1 in light).
# - Radio buttons stand 28px apart, the inline height of every other control: at ipywidgets'
#   20px a person's finger or an unsteady pointer could hit the neighbour (WCAG 2.2's 24px).
CSS += """
.dtrain-panel button:focus-visible,
.dtrain-panel input:focus-visible,
.dtrain-panel select:focus-visible,
.dtrain-panel textarea:focus-visible,
.dtrain-panel a[href]:focus-visible,
.dtrain-panel [tabindex]:focus-visible,
.dtrain-panel .lm-TabBar-tab:focus-visible {
  outline: 2px solid var(--jp-brand-color1) !important;
  outline-offset: 1px;
}
.dtrain-panel .dtrain-name-only > .widget-label,
.dtrain-panel .dtrain-name-only .widget-label-basic > span {
  position: absolute !important;
  width: 1px !important;
  min-width: 0 !important;
  height: 1px !important;
  margin: -1px !important;
  padding: 0 !important;
  overflow: hidden !important;
  clip-path: inset(50%);
  white-space: nowrap;
}
.dtrain-panel .jupyter-widget-TabPanel .lm-TabBar-tab:not(.lm-mod-current) { color: var(--jp-ui-font-color1); }
.dtrain-panel pre.dtrain-log.dtrain-log-follow { display: flex; flex-direction: column-reverse; }
.dtrain-panel .jupyter-button.mod-success {
  background-color: color-mix(in srgb, var(--jp-success-color1) 85%, var(--jp-ui-font-color0));
}
.dtrain-panel .widget-radio-box label {
  height: var(--jp-widgets-inline-height);
  line-height: var(--jp-widgets-inline-height);
}
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
        # A box that only holds a place for parts built later: its children lay out as its
        # parent's own. Filling it leaves the parent's children as they are; a child inserted
        # into the parent's children instead makes the front end rebuild the views after it.
        self.slot = widgets.Layout(display="contents")
        self.button = ButtonStyle()
        self.html = HTMLStyle()


def style_widget() -> widgets.HTML:
    """An HTML widget holding the `<style>` element; it renders nothing visible."""
    return widgets.HTML(f"<style>{CSS}</style>", layout=widgets.Layout(display="none"))


def phase_class(phase: str) -> str:
    """CSS class for a phase's colour; unknown phases get the neutral colour."""
    return f"dtrain-phase-{phase}" if phase in PHASE_COLOURS else "dtrain-phase-Unknown"


# The job history in the list (job_row.py, job_list.py):
# - A past job's row (`dtrain-row-past`) sits on the layout's second colour behind a dashed left
#   edge: set apart at a glance without fading its text (faded text fails contrast). What says
#   "past" is its "Removed" mark, a word in a box, in the main text colour: not colour alone.
# - A wrong date in the range is said beside the fields, in the error text colour.
CSS += f"""
.dtrain-panel .dtrain-row-past {{
  background-color: var(--jp-layout-color2);
  border-left: 3px dashed var(--jp-border-color1);
}}
.dtrain-panel .dtrain-removed-mark {{
  display: inline-block;
  padding: 0 4px;
  border: 1px solid var(--jp-border-color1);
  border-radius: 3px;
  color: var(--jp-ui-font-color1);
  font-size: var(--jp-ui-font-size0);
  line-height: 1.4;
}}
.dtrain-panel .dtrain-field-error {{ color: {ERROR_TEXT}; }}
.dtrain-panel .dtrain-past-note {{ width: 100%; }}
"""

# Metrics (charts.py, metrics_view.py, compare.py) and the rows' progress (job_row.py):
# - A chart's legend is HTML under the figure (names a screen reader reads), each name after a
#   short bar of its curve's colour; the readout and the chart's notes are muted text.
# - A running job's progress bar sits under its phase, narrow enough for the Status column, its
#   percentage and ETA beside it in muted text.
# The run-details widget in a notebook cell has no panel around it and carries its own rules
# (run_details.py).
CSS += f"""
.dtrain-panel .dtrain-legend {{
  list-style: none;
  margin: 0;
  padding: 0;
  display: flex;
  flex-wrap: wrap;
  gap: 4px 14px;
}}
.dtrain-panel .dtrain-swatch {{
  display: inline-block;
  width: 16px;
  height: 3px;
  margin-right: 5px;
  vertical-align: middle;
}}
.dtrain-panel .dtrain-chart-readout, .dtrain-panel .dtrain-chart-note {{ color: {MUTED}; min-height: 1.2em; }}
.dtrain-panel .dtrain-chart {{ border-bottom: 1px solid var(--jp-border-color2); padding-bottom: 6px; margin-bottom: 6px; }}
.dtrain-panel .dtrain-progress {{ display: inline-flex; align-items: center; gap: 4px; white-space: nowrap; }}
.dtrain-panel .dtrain-progress progress {{ width: 5em; height: 0.8em; }}
.dtrain-panel .dtrain-progress-text {{ color: {MUTED}; font-size: var(--jp-ui-font-size0); }}
"""
