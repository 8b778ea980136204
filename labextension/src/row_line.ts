/**
 * The view of `dtrain_jupyter.ui.row_line.DrawnLine`: the first line of a job row, drawn from one
 * widget model as plain DOM.
 *
 * Core ipywidgets take six models for the same line (a checkbox, the name button, the facts, three
 * buttons), each a message from the kernel and a view to build before the list shows. This view
 * draws the elements those widgets draw, with their classes (`widget-checkbox dtrain-select`,
 * `jupyter-button dtrain-name dtrain-expander`, `widget-html dtrain-facts`, `dtrain-row-log`, ...),
 * so the panel's CSS, keyboard.ts and the browser tests meet the same page either way.
 *
 * - Its own element takes no box (`display: contents`, from the `dtrain-line` class): the parts
 *   are items of the row's wrapping flex line, as core widgets' views are.
 * - Elements are built once and updated in place, so a change from the kernel never takes the
 *   focus away from the name or a button.
 * - A tick sets `selected` (a state update, as a Checkbox's `value` is); a click on the name or a
 *   button is a `{event: 'click', part}` custom message, as a Button's click is.
 * - `facts` is HTML the kernel escaped already (job_row.grid), set as an HTML widget sets its value.
 * - `buttons_under` (the sidebar): the buttons go in a full-width box under the line, shown while
 *   the row is expanded.
 */
import { DOMWidgetModel, DOMWidgetView } from '@jupyter-widgets/base';

import { EXPANDED, EXPANDER } from './keyboard';
import { moduleDefaults } from './widget_module';

/** The class that shows a control's description to screen readers only (ui/assistive.py). */
const NAME_ONLY = 'dtrain-name-only';
/** Classes every part carries, as a core widget's view would: the same margins and box model. */
const PART = ['lm-Widget', 'jupyter-widgets'];
/** The class of each button, by part (row_line.BUTTON_CLASSES). */
const BUTTON_CLASSES: Record<string, string> = {
  log: 'dtrain-row-log',
  output: 'dtrain-row-output',
  metrics: 'dtrain-row-metrics'
};

/** One button after the facts: [part, label, title]. */
type ButtonSpec = [string, string, string];

/** The model; its defaults mirror the Python traits. */
export class RowLineModel extends DOMWidgetModel {
  defaults(): ReturnType<DOMWidgetModel['defaults']> {
    return {
      ...super.defaults(),
      ...moduleDefaults('RowLineModel', 'RowLineView'),
      name: '',
      name_tooltip: '',
      expanded: false,
      facts: '',
      check_label: '',
      selected: false,
      buttons: [],
      buttons_under: false,
      part_styles: {}
    };
  }
}

/** Draws the line: checkbox, name button, facts, and the Log, Output and Metrics buttons. */
export class RowLineView extends DOMWidgetView {
  render(): void {
    super.render();
    this.el.classList.add('dtrain-line');
    const styles = (this.model.get('part_styles') ?? {}) as Record<string, string>;

    // The checkbox: its description is its accessible name, hidden from sight (NAME_ONLY).
    this._check = element('div', [...PART, 'widget-inline-hbox', 'widget-checkbox', 'dtrain-select', NAME_ONLY]);
    const label = element('label', ['widget-label-basic']);
    this._box = document.createElement('input');
    this._box.type = 'checkbox';
    this._checkName = document.createElement('span');
    label.append(this._box, this._checkName);
    this._check.appendChild(label);
    this._box.addEventListener('click', () => {
      this.model.set('selected', this._box.checked, { updated_view: this });
      this.touch();
    });

    // The name: the row's expander (keyboard.ts gives it aria-expanded).
    this._name = button(['dtrain-name', EXPANDER]);
    this._name.addEventListener('click', event => this._clicked(event, 'name'));

    this._facts = element('div', [...PART, 'widget-inline-hbox', 'widget-html', 'dtrain-facts']);
    this._factsContent = element('div', ['widget-html-content']);
    this._facts.appendChild(this._factsContent);

    applyStyle(this._check, styles.check);
    applyStyle(this._name, styles.name);
    applyStyle(this._facts, styles.facts);
    this.el.append(this._check, this._name, this._facts);

    const specs = (this.model.get('buttons') ?? []) as ButtonSpec[];
    let host: HTMLElement = this.el;
    if (this.model.get('buttons_under')) {
      this._under = element('div', [...PART, 'widget-container', 'widget-box', 'widget-hbox', 'dtrain-line-under']);
      this._under.style.width = '100%';
      this.el.appendChild(this._under);
      host = this._under;
    }
    for (const [part, text] of specs) {
      const each = button([BUTTON_CLASSES[part] ?? `dtrain-row-${part}`]);
      each.textContent = text;
      applyStyle(each, styles[part]);
      each.addEventListener('click', event => this._clicked(event, part));
      this._buttons.set(part, each);
      host.appendChild(each);
    }
    this.update();
  }

  /** Writes the model into the elements, in place. */
  update(options?: unknown): void {
    const name = this.model.get('name') as string;
    const nameTitle = this.model.get('name_tooltip') as string;
    setText(this._name, name);
    this._name.title = nameTitle || name;
    const expanded = Boolean(this.model.get('expanded'));
    this._name.classList.toggle(EXPANDED, expanded);
    if (this._under) {
      this._under.style.display = expanded ? '' : 'none';
    }

    const checkName = this.model.get('check_label') as string;
    setText(this._checkName, checkName);
    this._checkName.title = checkName;
    this._box.title = checkName;
    this._box.checked = Boolean(this.model.get('selected'));

    const facts = this.model.get('facts') as string;
    if (facts !== this._shownFacts) {
      this._factsContent.innerHTML = facts;
      this._shownFacts = facts;
    }

    for (const [part, text, title] of (this.model.get('buttons') ?? []) as ButtonSpec[]) {
      const each = this._buttons.get(part);
      if (each) {
        setText(each, text);
        each.title = title || text;
      }
    }
    super.update(options);
  }

  private _clicked(event: MouseEvent, part: string): void {
    event.preventDefault();
    this.send({ event: 'click', part });
  }

  private _check!: HTMLElement;
  private _box!: HTMLInputElement;
  private _checkName!: HTMLSpanElement;
  private _name!: HTMLButtonElement;
  private _facts!: HTMLElement;
  private _factsContent!: HTMLElement;
  private _under: HTMLElement | null = null;
  private _buttons = new Map<string, HTMLButtonElement>();
  /** The facts HTML last written: the same text is not parsed and laid out again. */
  private _shownFacts: string | null = null;
}

function element<K extends keyof HTMLElementTagNameMap>(tag: K, classes: string[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  el.classList.add(...classes);
  return el;
}

/** A button as ipywidgets draws one (`jupyter-button widget-button`), with more classes. */
function button(classes: string[]): HTMLButtonElement {
  return element('button', [...PART, 'jupyter-button', 'widget-button', ...classes]);
}

/** Set `el`'s text only when it differs: a text node replaced under the focus is harmless, but a
 * no-op update should not touch the DOM at all. */
function setText(el: HTMLElement, text: string): void {
  if (el.textContent !== text) {
    el.textContent = text;
  }
}

/** Inline CSS text ("width:28px;min-width:28px") onto `el`, as a shared Layout would style it. */
function applyStyle(el: HTMLElement, css: string | undefined): void {
  if (css) {
    el.style.cssText += `;${css}`;
  }
}
