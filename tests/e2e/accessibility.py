"""An axe-core audit of what a browser test shows: the serious and critical WCAG violations inside one element.

axe-core (the npm package pinned in tests/e2e/axe/, installed by `scripts/setup.sh --browser`) is
injected into the page once and run on the panel's root element only, so JupyterLab's own chrome,
which we do not write, neither hides nor adds problems. The rules are WCAG 2.x A and AA plus axe's
best practices; only `serious` and `critical` findings fail a test (axe's own grading), and each is
reported with the rule, its help text and the elements it names, so a failure says what to fix.

JupyterLab's <body> is `overflow: hidden` and, its shell being absolutely placed, 0 px tall. axe
takes such an ancestor for a clip that hides everything in normal flow under it, and then skips
those elements in the rules that need them on screen: colour contrast looked at 3 elements of the
whole panel. The audit therefore gives the body the window's height while it runs (nothing on
the page moves: the shell is placed against the window, not the body) and puts it back after;
`examined` tells how many elements a rule looked at, so a test can prove the audit sees the view.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

AXE_SCRIPT = Path(__file__).resolve().parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
FAILING_IMPACTS = ("serious", "critical")
RULE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]

# axe.run on the first element matching `selector` with `options`, the body made measurable
# meanwhile (see the module's doc); {missing: selector} when nothing matches.
_RUN_JS = """
async ([selector, options]) => {
  const root = document.querySelector(selector);
  if (!root) return {missing: selector};
  const height = document.body.style.height;
  document.body.style.height = '100vh';
  try {
    const result = await axe.run(root, options);
    const nodes = (v) => v.nodes.map((n) => ({target: n.target.join(' '), summary: n.failureSummary || ''}));
    return {
      violations: result.violations.map((v) => ({id: v.id, impact: v.impact, help: v.help, nodes: nodes(v)})),
      examined: [result.passes, result.violations, result.incomplete].flat().reduce((n, v) => n + v.nodes.length, 0),
    };
  } finally {
    document.body.style.height = height;
  }
}
"""


def _inject(page: Any) -> None:
    if not AXE_SCRIPT.is_file():
        raise FileNotFoundError(f"{AXE_SCRIPT} is missing: run scripts/setup.sh --browser (it installs axe-core)")
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE_SCRIPT))


def _run(page: Any, selector: str, options: dict[str, Any]) -> dict[str, Any]:
    _inject(page)
    result = page.evaluate(_RUN_JS, [selector, options])
    if "missing" in result:
        raise AssertionError(f"nothing matches {selector!r}: the view under audit is not open")
    return result


def violations(page: Any, selector: str) -> list[dict[str, Any]]:
    """Every serious or critical axe violation inside the first element matching `selector`."""
    result = _run(page, selector, {"runOnly": {"type": "tag", "values": RULE_TAGS}, "resultTypes": ["violations"]})
    return [v for v in result["violations"] if v["impact"] in FAILING_IMPACTS]


def examined(page: Any, selector: str, rule: str) -> int:
    """How many elements inside `selector` axe's `rule` looked at (passed, failed or could not
    tell): proof that an audit sees the view, where a rule that skips everything passes."""
    return _run(page, selector, {"runOnly": {"type": "rule", "values": [rule]}})["examined"]


def describe(found: list[dict[str, Any]]) -> str:
    """Violations in lines a person can act on: rule, impact, help, then each element (first five)."""
    lines = []
    for v in found:
        lines.append(f"{v['id']} ({v['impact']}): {v['help']}")
        for node in v["nodes"][:5]:
            summary = " ".join(node["summary"].split())
            lines.append(f"    {node['target']}: {summary[:300]}")
        if len(v["nodes"]) > 5:
            lines.append(f"    ... and {len(v['nodes']) - 5} more")
    return "\n".join(lines)


def problems(page: Any, selector: str, view: str) -> str:
    """`describe`'s lines under a heading naming `view`, or "" when there is no serious or
    critical violation (for a test that audits many views and reports them all at once)."""
    found = violations(page, selector)
    return f"{view}: {len(found)} serious/critical violation(s)\n{describe(found)}" if found else ""


def assert_accessible(page: Any, selector: str, view: str) -> None:
    """Fail with `describe`'s lines when `selector` has any serious or critical violation."""
    found = violations(page, selector)
    assert not found, f"axe-core found {len(found)} serious/critical violation(s) in {view}:\n{describe(found)}"
