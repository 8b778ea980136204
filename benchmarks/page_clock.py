"""Times taken inside the page (`performance.now()`), not by Playwright's waits.

Playwright's `wait_for`/`wait_for_selector` look for an element again after 0, 20, 50, 100 and
100 ms, then every 500 ms (its `retryWithProgressAndBackoff`). So a wait that lasts longer than
about 270 ms ends on a 500 ms grid: an element drawn 1.05 s after a click was seen at 1.4 s,
and a gain of 300 ms could vanish entirely. A `PageClock` puts a MutationObserver in the page
instead, which notes the time of the first frame painted after the condition holds; Playwright
then only collects that figure.

    clock = PageClock(page)
    clock.watch("rows", ".dtrain-panel .dtrain-job", count=50)
    clock.click(card)                    # notes the click event's own time
    ms = clock.wait("rows") - clock.clicked()

Marks are milliseconds on the page's clock (`performance.now()`, the origin of `event.timeStamp`).
"""

from __future__ import annotations

from typing import Any

# Notes window.__benchMarks[key] = the time of the first frame painted after `count` elements
# match `selector`, the last of them has a box (is shown) and, with `text`, the first of them
# contains that text. The check runs on DOM changes only, and touches layout (getClientRects)
# only once enough elements exist, so the page being timed is not slowed by it. The time is
# taken in a task posted from requestAnimationFrame: that task runs after the frame is painted.
WATCH_JS = """
([key, selector, count, text]) => {
  const marks = (window.__benchMarks = window.__benchMarks || {});
  delete marks[key];
  const holds = () => {
    const found = document.querySelectorAll(selector);
    if (found.length < count) return false;
    if (text !== null && !found[0].textContent.includes(text)) return false;
    return found[count - 1].getClientRects().length > 0;
  };
  let done = false;
  const check = () => {
    if (done || !holds()) return;
    done = true;
    observer.disconnect();
    requestAnimationFrame(() => {
      const channel = new MessageChannel();
      channel.port1.onmessage = () => { marks[key] = performance.now(); };
      channel.port2.postMessage(null);
    });
  };
  const observer = new MutationObserver(check);
  observer.observe(document.body, {subtree: true, childList: true, attributes: true, characterData: true});
  check();
}
"""

# Notes the time of the next click anywhere in the page (its event's own timeStamp).
CLICK_JS = """
() => {
  const marks = (window.__benchMarks = window.__benchMarks || {});
  delete marks.click;
  document.addEventListener('click', event => { marks.click = event.timeStamp; }, {capture: true, once: true});
}
"""


class PageClock:
    """Marks taken in `page` (see the module's doc)."""

    def __init__(self, page: Any) -> None:
        self.page = page

    def watch(self, key: str, selector: str, count: int = 1, text: str | None = None) -> None:
        """Note when `count` elements match `selector` and are shown (the first containing `text`)."""
        self.page.evaluate(WATCH_JS, [key, selector, count, text])

    def click(self, locator: Any) -> None:
        """Click `locator`; `clicked()` then gives the click event's time."""
        self.page.evaluate(CLICK_JS)
        locator.click()

    def clicked(self) -> float:
        return self.wait("click")

    def now(self) -> float:
        """The page's clock now (one round trip late, well under a millisecond on loopback)."""
        return float(self.page.evaluate("performance.now()"))

    def wait(self, key: str, timeout_ms: float = 180_000) -> float:
        """The mark `key`, once the page has it."""
        self.page.wait_for_function("key => window.__benchMarks && window.__benchMarks[key] !== undefined",
                                    arg=key, timeout=timeout_ms)
        return float(self.page.evaluate("key => window.__benchMarks[key]", key))
