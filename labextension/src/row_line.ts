/**
 * The view of a job row that is one widget model (`dtrain_jupyter.ui.job_row.DrawnJobRow`): it
 * draws the row's first line as plain DOM from the model's `line_*` state, and lays the row's
 * children (its pods, once expanded) under the line, as a box lays out its children.
 *
 * Core ipywidgets take seven models for the same row (the box, a checkbox, the name button, the
 * facts, three buttons), each a message from the kernel and a view to build before the list
 * shows. This view draws the elements those widgets draw, with their classes
 * (`widget-checkbox dtrain-select`, `jupyter-button dtrain-name dtrain-expander`,
 * `widget-html dtrain-facts`, `dtrain-row-log`, ...), inside the row's own element (the classes an
 * HBox has), so the panel's CSS, keyboard.ts and the browser tests meet the same page either way.
 *
 * - The line's element takes no box (`display: contents`, from the `dtrain-line` class): its parts
 *   are items of the row's wrapping flex line, as core widgets' views are; the children are 100%
 *   wide, so they wrap under it.
 * - The line is the first widget of the row's Lumino layout and each child's view the next, so
 *   children get Lumino's attach and resize messages as in a core box.
 * - Elements are built once and updated in place, so a change from the kernel never takes the
 *   focus away from the name or a button.
 * - A tick sets `line_selected` (a state update, as a Checkbox's `value` is); a click on the name
 *   or a button is a `{event: 'click', part}` custom message, as a Button's click is.
 * - `line_facts` is HTML the kernel escaped already (job_row.grid), set as an HTML widget sets its
 *   value.
 * - `line_buttons_under` (the sidebar): the buttons go in a full-width box under the line, shown
 *   while the row is expanded.
 */
import {
  DOMWidgetModel,
  DOMWidgetView,
  unpack_models,
  ViewList,
  WidgetModel
} from '@jupyter-widgets/base';
import { MessageLoop } from '@lumino/messaging';
import { PanelLayout, Widget } from '@lumino/widgets';

import { EXPANDED, EXPANDER } from './keyboard';
import { moduleDefaults } from './widget_module';

/** The class that shows a control's description to screen readers only (ui/assistive.py). */
const NAME_ONLY = 'dtrain-name-only';
/** Classes every part carries, as a core widget's view would: the same margins and box model. */
const PART = ['lm-Widget', 'jupyter-widgets'];
/** The classes of a core HBox's element, which the row's element takes too. */
const HBOX = ['jupyter-widgets', 'widget-container', 'widget-box', 'widget-hbox'];
/** The class of each button, by part (row_line.BUTTON_CLASSES). */
const BUTTON_CLASSES: Record<string, string> = {
  log: 'dtrain-row-log',
  output: 'dtrain-row-output',
  metrics: 'dtrain-row-metrics'
};

/** One button after the facts: [part, label, title]. */
type ButtonSpec = [string, string, string];

/** The model; its defaults mirror the Python traits (row_line.DrawnLineState, a Box's children). */
export class JobRowModel extends DOMWidgetModel {
  static serializers = {
    ...DOMWidgetModel.serializers,
    children: { deserialize: unpack_models }
  };

  defaults(): ReturnType<DOMWidgetModel['defaults']> {
    return {
      ...super.defaults(),
      ...moduleDefaults('JobRowModel', 'JobRowView'),
      children: [],
      line_name: '',
      line_name_tooltip: '',
      line_expanded: false,
      line_facts: '',
      line_check_label: '',
      line_selected: false,
      line_buttons: [],
      line_buttons_under: false,
      line_styles: {}
    };
  }
}

/** Draws the line (checkbox, name button, facts, Log/Output/Metrics), then the row's children. */
export class JobRowView extends DOMWidgetView {
  render(): void {
    super.render();
    this.el.classList.add(...HBOX);
    this._layout = new PanelLayout();
    this.luminoWidget.layout = this._layout;
    this._layout.addWidget(new Widget({ node: this._drawLine() }));
    // Made here, not in `initialize`: this class's field initializers run after the base
    // constructor, which calls `initialize`, and would reset what it set.
    this._children = new ViewList<DOMWidgetView>(this._addChild, null, this);
    this.listenTo(this.model, 'change:children', this._updateChildren);
    this._updateChildren();
    this.update();
  }

  /** Writes the model into the line's elements, in place. */
  update(options?: unknown): void {
    const name = this.model.get('line_name') as string;
    const nameTitle = this.model.get('line_name_tooltip') as string;
    setText(this._name, name);
    this._name.title = nameTitle || name;
    const expanded = Boolean(this.model.get('line_expanded'));
    this._name.classList.toggle(EXPANDED, expanded);
    if (this._under) {
      this._under.style.display = expanded ? '' : 'none';
    }

    const checkName = this.model.get('line_check_label') as string;
    setText(this._checkName, checkName);
    this._checkName.title = checkName;
    this._box.title = checkName;
    this._box.checked = Boolean(this.model.get('line_selected'));

    const facts = this.model.get('line_facts') as string;
    if (facts !== this._shownFacts) {
      this._factsContent.innerHTML = facts;
      this._shownFacts = facts;
    }

    for (const [part, text, title] of (this.model.get('line_buttons') ?? []) as ButtonSpec[]) {
      const each = this._buttons.get(part);
      if (each) {
        setText(each, text);
        each.title = title || text;
      }
    }
    super.update(options);
  }

  remove(): void {
    this._children = null;
    super.remove();
  }

  /** The line's elements, in one element that takes no box of its own. */
  private _drawLine(): HTMLElement {
    const line = element('div', ['dtrain-line']);
    const styles = (this.model.get('line_styles') ?? {}) as Record<string, string>;

    // The checkbox: its description is its accessible name, hidden from sight (NAME_ONLY).
    this._check = element('div', [...PART, 'widget-inline-hbox', 'widget-checkbox', 'dtrain-select', NAME_ONLY]);
    const label = element('label', ['widget-label-basic']);
    this._box = document.createElement('input');
    this._box.type = 'checkbox';
    this._checkName = document.createElement('span');
    label.append(this._box, this._checkName);
    this._check.appendChild(label);
    this._box.addEventListener('click', () => {
      this.model.set('line_selected', this._box.checked, { updated_view: this });
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
    line.append(this._check, this._name, this._facts);

    let host: HTMLElement = line;
    if (this.model.get('line_buttons_under')) {
      this._under = element('div', [...PART, ...HBOX, 'dtrain-line-under']);
      this._under.style.width = '100%';
      line.appendChild(this._under);
      host = this._under;
    }
    for (const [part, text] of (this.model.get('line_buttons') ?? []) as ButtonSpec[]) {
      const each = button([BUTTON_CLASSES[part] ?? `dtrain-row-${part}`]);
      each.textContent = text;
      applyStyle(each, styles[part]);
      each.addEventListener('click', event => this._clicked(event, part));
      this._buttons.set(part, each);
      host.appendChild(each);
    }
    return line;
  }

  private _updateChildren(): void {
    this._children?.update(this.model.get('children')).then(views => {
      // As a core box does: the children's sizes may have changed.
      for (const view of views) {
        MessageLoop.postMessage(view.luminoWidget, Widget.ResizeMessage.UnknownSize);
      }
    });
  }

  /** A child's view, placed where its model is in `children` (a stand-in holds the place while
   * the view is built, since views are built asynchronously). */
  private async _addChild(model: WidgetModel): Promise<DOMWidgetView> {
    const standIn = new Widget();
    this._layout.addWidget(standIn);
    const view = (await this.create_child_view(model)) as DOMWidgetView;
    this._layout.insertWidget(this._layout.widgets.indexOf(standIn), view.luminoWidget);
    standIn.dispose();
    return view;
  }

  private _clicked(event: MouseEvent, part: string): void {
    event.preventDefault();
    this.send({ event: 'click', part });
  }

  private _children: ViewList<DOMWidgetView> | null = null;
  private _layout!: PanelLayout;
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
