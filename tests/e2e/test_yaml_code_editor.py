"""The YAML editor in a real browser: JupyterLab's CodeMirror editor, its markers, its keys.

In the panel's YAML mode the editor must be CodeMirror with line numbers and YAML highlighting,
opened at the top of the text. What is typed reaches the kernel (Validate reports on it), an
invalid manifest puts a gutter marker on the line of the problem, the problem's button puts the
cursor at its line and column (read back from the page's selection), and Ctrl-Enter validates.
Screenshots in the light and the dark theme: test-artifacts/screens/yaml-editor-{light,dark}.png.

The same module checks the panel's "open in JupyterLab" links (labextension/src/open_in_lab.ts)
with links put into the panel's DOM the way the panel renders them.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import pytest

from dtrain_jupyter.ui.code_editor import RENDER_WAIT_S
from tests.browser_fixtures import LabServer, screenshot
from tests.e2e.panel_helpers import replace_editor_text, set_theme

pytestmark = pytest.mark.browser

PANEL = "#dtrain-main .dtrain-panel"
EDITOR = f"{PANEL} .dtrain-yaml-editor .dtrain-code-editor"
PANEL_TIMEOUT_MS = 120_000

BAD_NAME_YAML = """\
apiVersion: kubeflow.org/v1
kind: TFJob
metadata:
  name: Bad_Name
spec:
  tfReplicaSpecs:
    Worker:
      replicas: 1
      restartPolicy: Never
      template:
        spec:
          containers:
            - name: tensorflow
              image: python:3.11
              command: [python, -c, "print('hi')"]
"""

# The 1-based (line, column) of the page's selection inside the editor, or null when the
# selection is elsewhere. CodeMirror draws one .cm-line per line of this short text.
CURSOR_JS = """
(sel) => {
  const content = document.querySelector(sel + ' .cm-content');
  const selection = window.getSelection();
  if (!content || !selection.rangeCount || !content.contains(selection.focusNode)) return null;
  const lines = [...content.querySelectorAll(':scope > .cm-line')];
  const node = selection.focusNode.nodeType === Node.ELEMENT_NODE ? selection.focusNode
    : selection.focusNode.parentElement;
  const line = node.closest('.cm-line');
  const before = document.createRange();
  before.setStart(line, 0);
  before.setEnd(selection.focusNode, selection.focusOffset);
  return [lines.indexOf(line) + 1, before.toString().length + 1];
}
"""

# Colours of the text tokens CodeMirror's highlighter classed, and of plain editor text.
TOKEN_COLOURS_JS = """
(sel) => {
  const content = document.querySelector(sel + ' .cm-content');
  const tokens = [...content.querySelectorAll('.cm-line span[class]')]
    .filter((span) => span.className.trim() && span.textContent.trim());
  return {
    plain: getComputedStyle(content).color,
    tokens: tokens.map((span) => [span.textContent, span.className, getComputedStyle(span).color]),
  };
}
"""


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def _open_yaml_mode(page: Any) -> Any:
    page.locator(".jp-LauncherCard", has_text="Distributed Training").click()
    page.wait_for_selector(f"{PANEL} .dtrain-job-list", timeout=PANEL_TIMEOUT_MS)
    panel = page.locator(PANEL)
    panel.locator("button.dtrain-new").click()
    panel.locator(".dtrain-mode button", has_text="YAML").click()
    page.locator(f"{EDITOR} .cm-editor").wait_for(timeout=60_000)
    return panel


def _luminance(css_colour: str) -> float:
    red, green, blue = (int(v) for v in re.findall(r"\d+", css_colour)[:3])
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def test_yaml_mode_is_a_codemirror_editor_with_markers_and_keys(lab_page: Any) -> None:
    page = lab_page
    panel = _open_yaml_mode(page)
    opened_at = time.monotonic()
    editor = page.locator(EDITOR)

    # The template is shown from its first line, with line numbers beside it.
    assert editor.locator(".cm-scroller").evaluate("el => el.scrollTop") == 0
    numbers = editor.locator(".cm-lineNumbers .cm-gutterElement")
    assert "1" in numbers.all_inner_texts()
    first_line = editor.locator(".cm-line").first
    assert first_line.is_visible()
    # No plain text box: this front end has the labextension.
    assert panel.locator(".dtrain-yaml-editor textarea").count() == 0
    assert panel.locator(".dtrain-editor-note").count() == 0

    # YAML highlighting: the language loads lazily, then keys and values get classed spans
    # whose colours differ from plain text and from each other.
    page.wait_for_function(f"(sel) => ({TOKEN_COLOURS_JS})(sel).tokens.length > 3", arg=EDITOR)
    colours = page.evaluate(TOKEN_COLOURS_JS, EDITOR)
    token_colours = {colour for _text, _cls, colour in colours["tokens"]}
    assert len(token_colours) >= 2, colours
    assert any(colour != colours["plain"] for colour in token_colours), colours

    # What is typed reaches the kernel: Validate reports on the new text.
    replace_editor_text(page, EDITOR, BAD_NAME_YAML)
    panel.locator("button.dtrain-validate").click()
    panel.locator(".dtrain-verdict", has_text="1 problem found in the text").wait_for(timeout=30_000)
    issue = panel.locator(".dtrain-verdict .dtrain-issue")
    assert "metadata.name" in issue.inner_text() and "Bad_Name" in issue.inner_text()

    # The marker is on line 4 (`  name: Bad_Name`): in the gutter, on the line, at the column.
    dot = editor.locator(".dtrain-cm-problems .dtrain-cm-problem")
    dot.wait_for()
    assert dot.count() == 1
    assert "metadata.name" in (dot.get_attribute("title") or "")
    line_four = numbers.filter(has_text=re.compile(r"^4$"))
    assert abs(dot.bounding_box()["y"] - line_four.bounding_box()["y"]) < 4
    marked_line = editor.locator(".cm-line.dtrain-cm-problem-line")
    assert marked_line.count() == 1 and marked_line.inner_text() == "  name: Bad_Name"
    underlined = editor.locator(".dtrain-cm-problem-text")
    assert underlined.inner_text() == "name: Bad_Name"
    assert "metadata.name" in (underlined.get_attribute("title") or "")

    # The issue's button puts the cursor at line 4, column 3 and focuses the editor.
    editor.locator(".cm-content").focus()
    page.keyboard.press("Control+Home")
    assert page.evaluate(CURSOR_JS, EDITOR) == [1, 1]
    at = panel.locator(".dtrain-verdict button.dtrain-issue-at")
    assert at.inner_text().strip() == "line 4, column 3"
    at.click()
    page.wait_for_function(f"(sel) => JSON.stringify(({CURSOR_JS})(sel)) === '[4,3]'", arg=EDITOR)
    assert page.evaluate(f"() => !!document.activeElement.closest('{EDITOR}')")
    screenshot(page, "yaml-editor-light")

    light_background = editor.locator(".cm-editor").evaluate("el => getComputedStyle(el).backgroundColor")
    set_theme(page, "JupyterLab Dark")
    try:
        page.wait_for_function(
            "([sel, before]) => getComputedStyle(document.querySelector(sel + ' .cm-editor')).backgroundColor"
            " !== before", arg=[EDITOR, light_background])
        text_colour = editor.locator(".cm-content").evaluate("el => getComputedStyle(el).color")
        assert _luminance(text_colour) > 128, text_colour
        assert dot.is_visible()
        screenshot(page, "yaml-editor-dark")
    finally:
        set_theme(page, "JupyterLab Light")

    # Ctrl-Enter validates the latest text, typed a moment before.
    name = _name("keys")
    replace_editor_text(page, EDITOR, BAD_NAME_YAML.replace("Bad_Name", name))
    page.keyboard.press("Control+Enter")
    panel.locator(".dtrain-verdict", has_text="Valid: the text parses").wait_for(timeout=30_000)
    assert dot.count() == 0
    # The key went to the editor only: no newline was typed.
    assert editor.locator(".cm-line").count() == BAD_NAME_YAML.count("\n") + 1
    assert not panel.locator(".dtrain-error-line").is_visible()
    # Once the kernel's wait for a rendered view is over, the code editor is still there.
    page.wait_for_timeout(max(0.0, RENDER_WAIT_S + 1 - (time.monotonic() - opened_at)) * 1000)
    assert panel.locator(".dtrain-editor-note").count() == 0 and editor.locator(".cm-editor").count() == 1
    assert page.page_errors == []


LINKS_JS = """
([panel, href, otherHref]) => {
  const make = (cls, title, text, link = href) => {
    const a = document.createElement('a');
    a.className = cls;
    a.href = link;
    a.target = '_blank';
    a.textContent = text;
    if (title) a.dataset.dtrainTitle = title;
    return a;
  };
  const box = document.createElement('div');
  box.id = 'dtrain-test-links';
  box.append(make('dtrain-open-in-lab', 'Training report', 'report.html'),
             make('dtrain-open-in-lab dtrain-test-untitled', '', 'untitled report', otherHref));
  document.querySelector(panel).append(box);
  // Outside any panel: must be left to the browser.
  const outside = make('dtrain-open-in-lab dtrain-test-outside', 'Outside', 'outside');
  outside.id = 'dtrain-test-outside';
  document.body.append(outside);
  // Record whether a click reached the link already handled, then keep the browser from
  // following it (the bubbling listener runs after the plugin's capturing one).
  window.dtrainClicks = [];
  for (const a of [...box.querySelectorAll('a'), outside]) {
    a.addEventListener('click', (event) => {
      window.dtrainClicks.push(event.defaultPrevented);
      event.preventDefault();
    });
  }
}
"""


def test_open_in_lab_links_open_one_sandboxed_tab_per_href(lab_page: Any, lab_server: LabServer) -> None:
    page = lab_page
    report = lab_server.root_dir / "report.html"
    report.write_text("<html><body><p>report body</p>"
                      "<script>document.body.dataset.scriptRan = 'yes'</script></body></html>")
    page.locator(".jp-LauncherCard", has_text="Distributed Training").click()
    page.wait_for_selector(f"{PANEL} .dtrain-job-list", timeout=PANEL_TIMEOUT_MS)
    href = f"{lab_server.base_url}files/report.html"
    page.evaluate(LINKS_JS, [PANEL, href, f"{href}?copy=2"])
    tabs = page.locator(".dtrain-open-in-lab-tab")
    titled = page.locator("#dtrain-test-links a", has_text="report.html")

    # A modified click, and a click outside a panel, are the browser's.
    titled.click(modifiers=["Control"])
    page.locator("#dtrain-test-outside").dispatch_event("click")
    assert page.evaluate("window.dtrainClicks") == [False, False]
    assert tabs.count() == 0

    titled.click()
    tab = tabs.first
    tab.wait_for()
    assert page.evaluate("window.dtrainClicks")[-1] is True
    frame = tab.locator("iframe")
    assert frame.get_attribute("sandbox") == ""
    assert frame.get_attribute("src") == href
    current = page.locator("#jp-main-dock-panel .lm-TabBar-tab.lm-mod-current")
    assert "Training report" in current.all_inner_texts()
    content = page.frame_locator(".dtrain-open-in-lab-tab iframe")
    content.locator("text=report body").wait_for()
    assert content.locator("body[data-script-ran]").count() == 0

    # Back to the panel, then the same link again: the same tab comes forward.
    page.locator("#jp-main-dock-panel .lm-TabBar-tab", has_text="Distributed Training").click()
    titled.click()
    page.wait_for_function(
        "() => [...document.querySelectorAll('#jp-main-dock-panel .lm-TabBar-tab.lm-mod-current')]"
        ".some((t) => t.textContent.includes('Training report'))")
    assert tabs.count() == 1

    # A link without data-dtrain-title, to another href: a second tab, titled by the link's text.
    page.locator("#jp-main-dock-panel .lm-TabBar-tab", has_text="Distributed Training").click()
    page.locator("#dtrain-test-links a.dtrain-test-untitled").click()
    tabs.nth(1).wait_for()
    assert tabs.count() == 2
    assert "untitled report" in current.all_inner_texts()
    assert page.url.startswith(lab_server.lab_url().split("?")[0])
    assert len(page.context.pages) == 1
    assert page.page_errors == []
