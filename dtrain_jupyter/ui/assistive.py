"""What the panel tells keyboard and screen-reader users that plain ipywidgets cannot.

ipywidgets draws no ARIA and cannot move focus into a view it has not built yet, so the panel
speaks through CSS classes that the labextension (`labextension/src/keyboard.ts`) and the
panel's CSS (`styles.py`) read:

- `NAME_ONLY`: the control's description is its accessible name (ipywidgets renders it as a
  `<label>` of the input) but is not shown; the panel shows its own label beside it, or none
  where the place says it (a row's checkbox). See `name_only`.
- `FOCUS_HERE`: where focus goes when the focused element disappears under it (a tab page or a
  wizard step replaced, a confirmation closed): the first visible one in the panel. Every view
  a button can switch to marks one.
- `EXPANDER` / `EXPANDED`: a button that shows or hides more, and its state, which keyboard.ts
  turns into `aria-expanded`.
- `BUSY`: on the panel root while it waits for the server; a button disabled meanwhile gets
  focus back when it is enabled again.

Without the labextension (another notebook front end) the names still work; focus and
`aria-expanded` are then left to the browser.
"""

from __future__ import annotations

from ipywidgets.widgets.widget_description import DescriptionWidget

NAME_ONLY = "dtrain-name-only"
FOCUS_HERE = "dtrain-focus-here"
EXPANDER = "dtrain-expander"
EXPANDED = "dtrain-expanded"
BUSY = "dtrain-busy"


def name_only(control: DescriptionWidget, name: str) -> None:
    """Give `control` the accessible name `name` without showing it.

    The name goes into ipywidgets' description, escaped (`description_allow_html=False`), whose
    `<label for=...>` names the input; `NAME_ONLY` hides that label from sight only. A title
    (`tooltip`) alone is not a name that every screen reader reads (axe-core's
    `label-title-only`), and a placeholder disappears as soon as something is typed.
    """
    with control.hold_sync():
        control.description_allow_html = False
        control.description = name
        control.add_class(NAME_ONLY)
