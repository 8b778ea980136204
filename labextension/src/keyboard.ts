/**
 * Keyboard and screen-reader help for the Distributed Training panel, where ipywidgets has none.
 *
 * The panel is Python (ipywidgets): it cannot see a key press, set an ARIA attribute, or focus
 * a view the browser is still building. It marks its elements with classes instead
 * (`dtrain_jupyter/ui/assistive.py`), and this module, one set of listeners on the page for
 * every panel (main tab, sidebar, inline in a notebook), acts on them:
 *
 * - Escape inside the delete confirmation (`.dtrain-confirm`) presses its Cancel button.
 * - Focus is not dropped. ipywidgets hides or rebuilds views under the focus: New, Log and
 *   Output switch the tab page, Next and Back replace the wizard's step, Create goes back to the
 *   list, a button is disabled while the panel waits for the server. When the focused element of
 *   a panel loses the focus because it can no longer hold it, the focus goes back to it once it
 *   is enabled again and the panel is no longer busy (`dtrain-busy`), or else to the panel's
 *   first visible `dtrain-focus-here`, waiting a while for the new view to be drawn. Focus put
 *   anywhere meanwhile (by the person, or by the kernel's own `focus()`) ends the wait.
 * - ARIA that follows the DOM: `aria-expanded` on expanders (`dtrain-expander`, open while
 *   `dtrain-expanded`), `aria-pressed` on toggle buttons (ipywidgets marks the pressed one
 *   `mod-active`), and roles for the confirmation (alertdialog), the error line and the banner
 *   (alert) and the success line (status). One MutationObserver keeps them in step.
 * - Radio buttons behave as a radio group. ipywidgets draws a RadioButtons widget as inputs of
 *   type radio with no `name`, so to the browser each is a group of one: each is a Tab stop of
 *   its own and the arrow keys do nothing. The radios of one `.widget-radio-box` get a shared
 *   name of their own: the group is one Tab stop (its checked radio), and the arrow keys move the
 *   choice, which the browser reports with a click on the radio it checks, the event ipywidgets
 *   listens to for a pick.
 */
import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';

import { PANEL_SELECTOR } from './open_in_lab';
/** Class names shared with `dtrain_jupyter/ui/assistive.py`. */
export const FOCUS_HERE = 'dtrain-focus-here';
export const BUSY = 'dtrain-busy';
export const EXPANDER = 'dtrain-expander';
export const EXPANDED = 'dtrain-expanded';

/** The longest a lost focus waits for its way back: a view drawn, or the server's answer. */
const RESCUE_LIMIT_MS = 30000;
/** How often a waiting focus looks again. */
const RESCUE_POLL_MS = 50;

/** What can hold the focus in a panel. */
const FOCUSABLE =
  'button, input, select, textarea, a[href], [tabindex]:not([tabindex="-1"]), [contenteditable="true"]';

/** Whether `el` can take the focus now: in the page, shown, not disabled. */
export function canFocus(el: Element | null): el is HTMLElement {
  if (!(el instanceof HTMLElement) || !el.isConnected || el.matches(':disabled')) {
    return false;
  }
  // No boxes: display:none on it or an ancestor (a hidden tab page, a folded box).
  return el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden';
}

/** What a `dtrain-focus-here` mark focuses: itself, its checked radio, or its first focusable part. */
export function focusTarget(mark: Element): HTMLElement | null {
  if (mark.matches(FOCUSABLE)) {
    return canFocus(mark) ? mark : null;
  }
  const parts = [mark.querySelector('input:checked'), ...mark.querySelectorAll(FOCUSABLE)];
  return parts.find(canFocus) ?? null;
}

/**
 * Where the focus `lost` from `panel` goes now, or null to wait: nowhere while the panel is
 * busy; back to `lost` when it can take it again; else the first mark that can.
 */
export function rescueTarget(lost: Element, panel: Element): HTMLElement | null {
  if (panel.classList.contains(BUSY)) {
    return null;
  }
  if (canFocus(lost)) {
    return lost;
  }
  for (const mark of Array.from(panel.getElementsByClassName(FOCUS_HERE))) {
    const target = focusTarget(mark);
    if (target) {
      return target;
    }
  }
  return null;
}

/** Whether no element has the focus (the browser gives it to the body then). */
function focusIsLost(): boolean {
  return document.activeElement === null || document.activeElement === document.body;
}

/** Brings a focus dropped inside a panel back (see the module's doc). One wait at a time. */
class FocusKeeper {
  /** A `focusout` from inside a panel that goes nowhere. */
  onFocusOut(event: FocusEvent): void {
    const lost = event.target instanceof Element ? event.target : null;
    // The panel is looked up now: a removed element has none by the time of the first look.
    const panel = lost?.closest(PANEL_SELECTOR);
    if (event.relatedTarget === null && lost && panel) {
      this._wait(lost, panel, canFocus(lost));
    }
  }

  /** `able`: whether `lost` could still hold the focus when it lost it. */
  private _wait(lost: Element, panel: Element, able: boolean): void {
    this._stop();
    const deadline = Date.now() + RESCUE_LIMIT_MS;
    let first = true;
    const look = (): void => {
      this._timer = null;
      if (!focusIsLost() || Date.now() > deadline) {
        return;
      }
      // Able to hold the focus when it went, and still in the page: the person left it on
      // purpose (a click on text, another window). Chromium sends focusout for an element
      // being removed while it is still in place, so whether it stayed is seen only here.
      if (first && able && lost.isConnected) {
        return;
      }
      first = false;
      const target = rescueTarget(lost, panel);
      if (target) {
        target.focus();
        return;
      }
      this._timer = window.setTimeout(look, RESCUE_POLL_MS);
    };
    // Not at once: the rest of the same update (the new page, the enabled button) lands first.
    this._timer = window.setTimeout(look, RESCUE_POLL_MS);
  }

  private _stop(): void {
    if (this._timer !== null) {
      window.clearTimeout(this._timer);
      this._timer = null;
    }
  }

  private _timer: number | null = null;
}

/** Escape in a panel's delete confirmation presses its Cancel button. */
export function onEscape(event: KeyboardEvent): void {
  if (event.key !== 'Escape' || event.defaultPrevented || !(event.target instanceof Element)) {
    return;
  }
  const confirm = event.target.closest('.dtrain-confirm');
  const cancel = confirm?.closest(PANEL_SELECTOR) ? confirm.querySelector('.dtrain-confirm-no') : null;
  if (canFocus(cancel)) {
    // Ours alone: no JupyterLab shortcut on Escape (a notebook's command mode) runs as well.
    event.preventDefault();
    event.stopPropagation();
    cancel.click();
  }
}

// ------------------------------------------------------------------ ARIA that follows the DOM

/** The attribute a radio box keeps its group's name in, so re-drawn radios rejoin their group. */
const RADIO_GROUP = 'dtrainRadioGroup';

let radioGroups = 0;

/** Give `radio` the name its `.widget-radio-box` shares with its other radios (one per box). */
function groupRadio(radio: HTMLElement): void {
  const box = radio.closest<HTMLElement>('.widget-radio-box');
  if (!box) {
    return;
  }
  if (!box.dataset[RADIO_GROUP]) {
    box.dataset[RADIO_GROUP] = `dtrain-radio-${++radioGroups}`;
  }
  setAttr(radio, 'name', box.dataset[RADIO_GROUP]!);
}

/** Elements whose ARIA (and radio grouping) this module keeps, and what each gets. */
const SEMANTICS: ReadonlyArray<[string, (el: HTMLElement) => void]> = [
  [`.${EXPANDER}`, el => setAttr(el, 'aria-expanded', String(el.classList.contains(EXPANDED)))],
  ['.widget-toggle-button', el => setAttr(el, 'aria-pressed', String(el.classList.contains('mod-active')))],
  ['.dtrain-confirm', el => nameConfirmation(el)],
  ['.dtrain-error-line', el => setAttr(el, 'role', 'alert')],
  ['.dtrain-banner', el => setAttr(el, 'role', 'alert')],
  ['.dtrain-info', el => setAttr(el, 'role', 'status')],
  ['.widget-radio-box input[type="radio"]', el => groupRadio(el)]
];
const SEMANTIC_SELECTOR = SEMANTICS.map(([selector]) => selector).join(', ');

let confirmations = 0;

/** The confirmation is an alertdialog described by its text (the jobs and what goes with them). */
function nameConfirmation(box: HTMLElement): void {
  setAttr(box, 'role', 'alertdialog');
  setAttr(box, 'aria-label', 'Confirm delete');
  const text = box.querySelector<HTMLElement>('.widget-html-content');
  if (text) {
    text.id = text.id || `dtrain-confirm-text-${++confirmations}`;
    setAttr(box, 'aria-describedby', text.id);
  }
}

function setAttr(el: HTMLElement, name: string, value: string): void {
  if (el.getAttribute(name) !== value) {
    el.setAttribute(name, value);
  }
}

/** Give `el` its attributes when it is one of SEMANTICS inside a panel. */
function applyTo(el: Element): void {
  if (!(el instanceof HTMLElement) || !el.matches(SEMANTIC_SELECTOR) || !el.closest(PANEL_SELECTOR)) {
    return;
  }
  for (const [selector, apply] of SEMANTICS) {
    if (el.matches(selector)) {
      apply(el);
    }
  }
}

/** Give `root` and everything under it that needs ARIA its attributes (inside panels only). */
export function applySemantics(root: Element): void {
  applyTo(root);
  root.querySelectorAll(SEMANTIC_SELECTOR).forEach(applyTo);
}

function onMutations(records: MutationRecord[]): void {
  for (const record of records) {
    if (record.type === 'attributes') {
      // A class changed: only that element's own state can have moved.
      if (record.target instanceof Element) {
        applyTo(record.target);
      }
      continue;
    }
    for (const node of Array.from(record.addedNodes)) {
      if (node instanceof Element) {
        applySemantics(node);
        // The confirmation's text may be drawn after the box: describe the box by it then.
        const confirmation = node.parentElement?.closest('.dtrain-confirm');
        if (confirmation) {
          applyTo(confirmation);
        }
      }
    }
  }
}

/** Installs the listeners and the observer once, for every panel on the page. */
export const keyboardPlugin: JupyterFrontEndPlugin<void> = {
  id: 'dtrain-jupyter:keyboard',
  description: 'Escape, focus and ARIA for the Distributed Training panel, which ipywidgets cannot give.',
  autoStart: true,
  activate: (_app: JupyterFrontEnd): void => {
    const keeper = new FocusKeeper();
    document.addEventListener('focusout', event => keeper.onFocusOut(event), true);
    // On the window, in the capture phase: before JupyterLab's own key handling on the document.
    window.addEventListener('keydown', onEscape, true);
    // Only the class attribute matters (the expanded, pressed states); ARIA set here is not
    // watched, so an update never feeds itself.
    new MutationObserver(onMutations).observe(document.body, {
      subtree: true,
      childList: true,
      attributes: true,
      attributeFilter: ['class']
    });
    applySemantics(document.body);
  }
};
