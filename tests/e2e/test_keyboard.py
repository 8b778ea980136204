"""The Distributed Training panel by keyboard alone (issue 17, item 4), in a real browser.

After the launcher card opens the panel, only keys are pressed: Tab reaches New; the platform
radios are one group (one Tab stop, the arrow keys pick); the wizard is walked to Create for a
small local job (the command typed over the starter's); in the list the
new job is reached, expanded and folded with Enter and Space on its expander (whose
aria-expanded follows), its Log and its Output opened (focus lands on each page) and the way
back is the tab bar's keys; Space ticks it; Delete opens the confirmation, which takes the
focus; Escape closes it and nothing is deleted, focus back on Delete; Delete again and Enter
deletes it. Space on the header box ticks and unticks every row.

Every element the keys focus in the panel shows a focus ring: its outline or box-shadow while
focused differs from the same element's once the focus has moved on. The Tab order of the
toolbar and of one row is recorded, by accessible name, and must be the visual order: each next
stop to the right on the same line, or on a line below.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.browser_fixtures import LabServer, screenshot
from tests.e2e.panel_helpers import (MAIN, THEMES, local_jobs, local_manifest, open_main, set_theme,
                                     wait_phase)

pytestmark = pytest.mark.browser

FOCUS_TIMEOUT_MS = 30_000
MOST_TABS = 40  # Tab presses allowed to reach one element: a lost focus runs off the panel long before

# What draws a focus ring: the outline and the box-shadow, as computed now.
RING_JS = """
(el) => {
  const s = getComputedStyle(el);
  return `${s.outlineStyle} ${s.outlineWidth} ${s.outlineColor} | ${s.boxShadow}`;
}
"""
# The element `el`, read in one go while it has the focus: what a screen reader would call it
# (aria-label, its <label>s, its text, its title), its box, its ring, whether it is in the panel;
# null when nothing is focused, {moved: true} when the focus is no longer on `el`.
FOCUSED_JS = f"""
(el) => {{
  if (!el || el === document.body) return null;
  if (el !== document.activeElement) return {{moved: true}};
  const labels = [...(el.labels || [])].map((l) => l.textContent).join(' ');
  const name = el.getAttribute('aria-label') || labels.trim() || el.textContent.trim() || el.title || '';
  const box = el.getBoundingClientRect();
  return {{name: name.replace(/\\s+/g, ' '), classes: [...el.classList], tag: el.tagName.toLowerCase(),
          x: box.left, y: box.top, height: box.height, inPanel: !!el.closest('.dtrain-panel'),
          expanded: el.getAttribute('aria-expanded'), ring: ({RING_JS.strip()})(el)}};
}}
"""


class Keys:
    """Presses keys in the page and checks every element of the panel they focus shows a ring.

    The ring of an element is read while it has the focus and again once the focus has moved
    on (the same element, unfocused): the two must differ, and the focused one must draw
    something (an outline that is not `none`, or a shadow).
    """

    def __init__(self, page: Any) -> None:
        self.page = page
        self._last: tuple[Any, str, str] | None = None  # (element, its ring while focused, its name)
        self.checked = 0

    def focused(self) -> dict[str, Any] | None:
        """The focused element (see FOCUSED_JS), after checking the ring of the one before."""
        # The kernel moves the focus too: the element and what it shows are read in one look,
        # taken again when the focus moved meanwhile.
        while True:
            element = self.page.evaluate_handle("document.activeElement")
            now = element.evaluate(FOCUSED_JS)
            if not (now or {}).get("moved"):
                break
        if self._last is not None:
            last, ring, name = self._last
            if not last.evaluate("(el, now) => el === now", element) and last.evaluate("el => el.isConnected"):
                after = last.evaluate(RING_JS)
                assert after != ring, f"{name!r} looks the same focused and not: {ring}"
                self.checked += 1
        self._last = None
        if now is not None and now["inPanel"]:
            ring = now["ring"]
            outline, _, shadow = ring.partition(" | ")
            assert not outline.startswith("none") or shadow != "none", f"{now['name']!r} shows no focus: {ring}"
            self._last = (element, ring, now["name"])
        return now

    def press(self, key: str) -> dict[str, Any] | None:
        self.page.keyboard.press(key)
        return self.focused()

    def type(self, text: str) -> None:
        self.page.keyboard.type(text)

    def until(self, key: str, css: str, name: str | None = None) -> list[dict[str, Any]]:
        """Press `key` until the focused element matches `css` (and has accessible `name`);
        every stop on the way, the last one included."""
        stops = []
        for _ in range(MOST_TABS):
            now = self.press(key)
            stops.append(now)
            if now is not None and self._matches(css, name):
                return stops
        pytest.fail(f"{key} never reached {css} {name or ''}; stops: {[s and s['name'] for s in stops]}")

    def wait_for(self, css: str) -> dict[str, Any]:
        """Until the focus is on an element matching `css` (moved there by the panel); that element."""
        self.page.wait_for_function("css => !!document.activeElement && document.activeElement.matches(css)",
                                    arg=css, timeout=FOCUS_TIMEOUT_MS)
        now = self.focused()
        assert now is not None
        return now

    def _matches(self, css: str, name: str | None) -> bool:
        if not self.page.evaluate("css => document.activeElement.matches(css)", css):
            return False
        return name is None or name in (self.page.evaluate(f"({FOCUSED_JS})(document.activeElement)") or {}).get(
            "name", "")


def _in_reading_order(stops: list[dict[str, Any]]) -> list[str]:
    """The pairs of consecutive stops whose second is neither right of the first on its line nor
    on a line below it."""
    wrong = []
    for before, after in zip(stops, stops[1:]):
        same_line = abs(after["y"] - before["y"]) < max(before["height"], after["height"]) / 2
        if not ((same_line and after["x"] > before["x"]) or (not same_line and after["y"] > before["y"])):
            wrong.append(f"{before['name']!r} at ({before['x']:.0f}, {before['y']:.0f}) -> "
                         f"{after['name']!r} at ({after['x']:.0f}, {after['y']:.0f})")
    return wrong


def _job_exists(lab_server: LabServer, name: str) -> bool:
    """Whether the job is on its backend (a deleted one still answers, from the job history, as `removed`)."""
    answer = lab_server.api("GET", f"dtrain/api/local/namespaces/default/pytorchjobs/{name}")
    return answer.status_code == 200 and not answer.json().get("removed")


def test_the_panel_by_keyboard_alone(lab_page: Any, lab_server: LabServer) -> None:
    page = lab_page
    tag = uuid.uuid4().hex[:6]
    older, made = f"kb-old-{tag}", f"kb-new-{tag}"
    with local_jobs(lab_server, [local_manifest("PyTorchJob", older, {"Master": (1, "print('done')")})]):
        wait_phase(lab_server, "pytorchjobs", older, {"Succeeded"})
        set_theme(page, THEMES[0])
        panel = page.locator(MAIN)
        open_main(page)
        page.locator(f"{MAIN} .dtrain-job .dtrain-name", has_text=older).wait_for()
        keys = Keys(page)

        # Tab order: the panel's tab bar, then the toolbar, filters, header box and a row, as seen.
        stops = keys.until("Tab", "button.dtrain-new")
        stops += keys.until("Tab", "button.dtrain-row-output")
        names = [s["name"] for s in stops if s["inPanel"]]
        assert names == ["Jobs", "New", "Delete", "Refresh", "Filter jobs", "Kind", "Status", "Show", "From", "To",
                         "Select every job shown", f"Select {older}", f"▸ {older}", "Log", "Output"], names
        assert _in_reading_order([s for s in stops if s["inPanel"]][1:]) == []

        # New: focus lands in the wizard, on the chosen platform.
        keys.until("Shift+Tab", "button.dtrain-new")
        keys.press("Enter")
        assert keys.wait_for(".dtrain-platform input:checked")["name"] == "PyTorch (PyTorchJob)"
        # The platforms are one radio group (keyboard.ts): the arrows move the choice, which the
        # kernel takes (MPIJob shows its version field), and Tab leaves the group in one step.
        assert keys.press("ArrowUp")["name"] == "Horovod (MPIJob)"
        panel.locator(".dtrain-field-mpi-version").wait_for()
        assert keys.press("ArrowDown")["name"] == "PyTorch (PyTorchJob)"
        panel.locator(".dtrain-field-mpi-version").wait_for(state="hidden")
        keys.press("Tab")
        assert page.evaluate("document.activeElement.type") != "radio", "each radio was a Tab stop of its own"
        assert keys.press("Shift+Tab")["name"] == "PyTorch (PyTorchJob)"
        assert page.evaluate("document.activeElement.checked")
        keys.until("Tab", "button.dtrain-next")
        keys.press("Enter")
        # Details: the name, and a command short enough to finish at once.
        keys.until("Shift+Tab", ".dtrain-field-name input")
        keys.type(made)
        keys.until("Tab", ".dtrain-field-command textarea")
        keys.press("ControlOrMeta+A")
        keys.type("python -c \"print('made by keys')\"")
        keys.until("Tab", "button.dtrain-next")
        keys.press("Enter")
        panel.locator(".dtrain-role-Master").wait_for()
        keys.press("Enter")
        # The review: Next is disabled under the focus, which goes to Create.
        panel.locator(".dtrain-summary").wait_for()
        keys.wait_for("button.dtrain-create")
        assert "made by keys" in panel.locator(".dtrain-summary").inner_text()
        screenshot(page, "keyboard-review")
        keys.press("Enter")
        # Created: the list again, the focus on New.
        keys.wait_for("button.dtrain-new")
        page.locator(f"{MAIN} .dtrain-info", has_text=f"Created PyTorchJob/{made}").wait_for()

        # The new job's row: its expander opens and folds with Enter and Space.
        expander = keys.until("Tab", "button.dtrain-name", made)[-1]
        assert expander["expanded"] == "false"
        keys.press("Enter")
        page.wait_for_function("() => document.activeElement.getAttribute('aria-expanded') === 'true'")
        panel.locator(".dtrain-job", has=page.locator(".dtrain-name", has_text=made)).locator(
            ".dtrain-pods").wait_for()
        keys.press("Space")
        page.wait_for_function("() => document.activeElement.getAttribute('aria-expanded') === 'false'")

        # Its Log, then back to the list with the tab bar's keys (Home, Enter).
        keys.until("Tab", "button.dtrain-row-log")
        keys.press("Enter")
        keys.wait_for(".dtrain-log-pod select")
        panel.locator(".dtrain-log-view", has_text=f"Log of PyTorchJob/{made}").wait_for()
        keys.until("Shift+Tab", ".lm-TabBar-tab")
        keys.press("Home")
        keys.press("Enter")
        panel.locator(".dtrain-job-list").wait_for()
        # Its Output, and back.
        keys.until("Tab", "button.dtrain-name", made)
        keys.until("Tab", "button.dtrain-row-output")
        keys.press("Enter")
        keys.wait_for(".dtrain-output-view button.dtrain-focus-here")
        panel.locator(".dtrain-output-view", has_text=f"PyTorchJob/{made}").wait_for()
        keys.until("Shift+Tab", ".lm-TabBar-tab")
        keys.press("Home")
        keys.press("Enter")
        panel.locator(".dtrain-job-list").wait_for()

        # Space ticks it; Delete asks, and the confirmation has the focus.
        keys.until("Tab", ".dtrain-job .dtrain-select input", f"Select {made}")
        keys.press("Space")
        panel.locator(".dtrain-job.dtrain-row-selected").wait_for()
        keys.until("Shift+Tab", "button.dtrain-delete")
        keys.press("Enter")
        confirm = panel.locator(".dtrain-confirm")
        confirm.wait_for()
        keys.wait_for("button.dtrain-confirm-yes")
        assert confirm.get_attribute("role") == "alertdialog"
        screenshot(page, "keyboard-confirm")
        # Escape closes it, deletes nothing, and gives the focus back to Delete.
        keys.press("Escape")
        confirm.wait_for(state="hidden")
        keys.wait_for("button.dtrain-delete")
        assert _job_exists(lab_server, made)
        # Delete again, and Enter confirms.
        keys.press("Enter")
        confirm.wait_for()
        keys.wait_for("button.dtrain-confirm-yes")
        keys.press("Enter")
        # Gone from the cluster, the row stays as a past job (the job history keeps it).
        panel.locator(".dtrain-job.dtrain-row-past", has=page.locator(".dtrain-name", has_text=made)).wait_for(
            timeout=60_000)
        keys.wait_for("button.dtrain-delete")
        assert not _job_exists(lab_server, made)

        # The header box ticks every row with Space, and unticks them.
        keys.until("Tab", ".dtrain-select-all input")
        keys.press("Space")
        page.wait_for_function("sel => [...document.querySelectorAll(sel)].every((box) => box.checked)",
                               arg=f"{MAIN} .dtrain-job .dtrain-select input")
        keys.press("Space")
        page.wait_for_function("sel => [...document.querySelectorAll(sel)].every((box) => !box.checked)",
                               arg=f"{MAIN} .dtrain-job .dtrain-select input")
        assert keys.checked >= 20, f"only {keys.checked} focus rings compared"
    assert page.page_errors == []
