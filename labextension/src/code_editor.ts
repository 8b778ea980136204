/**
 * The view of `dtrain_jupyter.ui.code_editor.CodeEditor`: JupyterLab's own CodeMirror editor as an
 * ipywidget, so the panel's YAML editor gets line numbers, highlighting and the editor theme.
 *
 * Python keeps the model (`value`, `language`, `markers`, `cursor`); this view only draws it:
 * - markers: a dot in the gutter at each marker's line (its messages as the hover title) and an
 *   underline from its column to the end of the line's text;
 * - edits go to the kernel as `{event: 'edit', value, cursor, revision}` custom messages, at most
 *   every SYNC_DELAY_MS while typing and at once when the editor loses focus. Custom messages are
 *   sent in order and never held back, while ipywidgets holds a state update back as long as an
 *   earlier one waits for the kernel; a button clicked right after typing (its click is a custom
 *   message too) would otherwise reach the kernel before the text it acts on;
 * - `revision` counts the kernel's own changes of `value`; an edit made on an older revision is
 *   dropped by the kernel, whose newer text this view shows by then;
 * - Ctrl/Cmd-Enter sends the latest text, then `{event: 'submit'}`;
 * - `{event: 'reveal', line, column}` from the kernel puts the cursor there, scrolls to it and
 *   focuses the editor;
 * - once the editor is built, the view sets `rendered`, which tells the kernel this front end can
 *   draw the editor (where nothing ever sets it, Python falls back to a plain text box);
 * - `label` is the text box's accessible name (aria-label), what a screen reader calls it.
 */
import {
  Compartment,
  EditorState,
  Extension,
  Prec,
  RangeSet,
  StateEffect,
  StateField
} from '@codemirror/state';
import { Decoration, DecorationSet, EditorView, GutterMarker, gutter } from '@codemirror/view';
import { DOMWidgetModel, DOMWidgetView, WidgetModel } from '@jupyter-widgets/base';
import { CodeEditor, IEditorServices } from '@jupyterlab/codeeditor';
import { CodeMirrorEditor, IEditorLanguageRegistry } from '@jupyterlab/codemirror';
import { Message } from '@lumino/messaging';

import { moduleDefaults } from './widget_module';

/** Longest pause between typing and the kernel seeing the text. */
const SYNC_DELAY_MS = 300;

/** The MIME type of a language name the registry does not know: plain text, no highlighting. */
const PLAIN_MIME = 'text/plain';

/** One problem to show: 1-based line and column, and what is wrong there. */
interface IMarker {
  line: number;
  column: number;
  message: string;
}

/** A 1-based (line, column) pair, as Python's `cursor` trait holds it. */
type Cursor = [number, number];

/** The editor services the views use; set when own_widgets.ts's plugin activates. */
let services: { factory: CodeEditor.Factory; languages: IEditorLanguageRegistry } | null = null;

// ------------------------------------------------------------------ markers inside CodeMirror

/** The gutter dot of a line with problems; its title lists them. */
class ProblemMarker extends GutterMarker {
  constructor(readonly messages: string) {
    super();
  }

  eq(other: GutterMarker): boolean {
    return other instanceof ProblemMarker && other.messages === this.messages;
  }

  toDOM(): Node {
    const dot = document.createElement('span');
    // The spacer (no messages) only sizes the gutter; tests and styles skip it.
    dot.className = this.messages ? 'dtrain-cm-problem' : 'dtrain-cm-problem-spacer';
    dot.textContent = '●';
    if (this.messages) {
      dot.title = this.messages;
    }
    return dot;
  }
}

/** Sizes the marker gutter before any marker exists, so it does not jump when one appears. */
const SPACER = new ProblemMarker('');

/** Replaces every marker at once (Python sends the whole list). */
const setMarkers = StateEffect.define<readonly IMarker[]>();

interface IMarkerDecorations {
  /** Underlines at the columns and a tint on the lines. */
  marks: DecorationSet;
  /** The gutter dots, one per line with problems. */
  dots: RangeSet<GutterMarker>;
}

/**
 * Marker decorations for `markers` in `state`: lines past the end go on the last line, columns
 * past the end of their line on its last character.
 */
function decorate(state: EditorState, markers: readonly IMarker[]): IMarkerDecorations {
  const doc = state.doc;
  const byLine = new Map<number, string[]>();
  const marks = [];
  for (const marker of markers) {
    const line = doc.line(Math.min(Math.max(1, marker.line), doc.lines));
    const text = line.text.replace(/\s+$/, '');
    let from = line.from + Math.min(Math.max(0, marker.column - 1), text.length);
    const to = line.from + text.length;
    if (from === to && from > line.from) {
      from -= 1;
    }
    if (from < to) {
      marks.push(
        Decoration.mark({ class: 'dtrain-cm-problem-text', attributes: { title: marker.message } }).range(
          from,
          to
        )
      );
    }
    byLine.set(line.from, [...(byLine.get(line.from) ?? []), marker.message]);
  }
  const dots = [];
  for (const [from, messages] of byLine) {
    marks.push(Decoration.line({ class: 'dtrain-cm-problem-line' }).range(from));
    dots.push(new ProblemMarker(messages.join('\n')).range(from));
  }
  return { marks: Decoration.set(marks, true), dots: RangeSet.of(dots, true) };
}

/** Markers follow the text they point at while the person types, until Python replaces them. */
const markerField = StateField.define<IMarkerDecorations>({
  create: () => ({ marks: Decoration.none, dots: RangeSet.empty }),
  update(value, transaction) {
    let next = value;
    if (transaction.docChanged) {
      next = { marks: value.marks.map(transaction.changes), dots: value.dots.map(transaction.changes) };
    }
    for (const effect of transaction.effects) {
      if (effect.is(setMarkers)) {
        next = decorate(transaction.state, effect.value);
      }
    }
    return next;
  },
  provide: field => EditorView.decorations.from(field, value => value.marks)
});

/** The marker field and its gutter; the gutter goes left of the line numbers. */
const markerExtension: Extension = [
  markerField,
  Prec.high(
    gutter({
      class: 'dtrain-cm-problems',
      markers: view => view.state.field(markerField).dots,
      initialSpacer: () => SPACER
    })
  )
];

// ------------------------------------------------------------------ the widget

/** The model; its defaults mirror the Python traits. */
export class CodeEditorModel extends DOMWidgetModel {
  defaults(): ReturnType<DOMWidgetModel['defaults']> {
    return {
      ...super.defaults(),
      ...moduleDefaults('CodeEditorModel', 'CodeEditorView'),
      value: '',
      language: 'yaml',
      markers: [],
      cursor: [1, 1],
      rendered: false,
      label: '',
      _revision: 0
    };
  }
}

/** JupyterLab's CodeMirror editor showing the model. */
export class CodeEditorView extends DOMWidgetView {
  render(): void {
    super.render();
    if (!services) {
      throw new Error('the dtrain-jupyter widgets plugin has not been activated');
    }
    this.el.classList.add('dtrain-code-editor');
    const host = document.createElement('div');
    host.className = 'dtrain-code-editor-host';
    this.el.appendChild(host);

    this._sent = this.model.get('value') as string;
    this._sentCursor = this.model.get('cursor') as Cursor;
    this._editorModel = new CodeEditor.Model({ mimeType: mimeOf(this.model.get('language') as string) });
    this._editorModel.sharedModel.setSource(this._sent);
    const editor = services.factory({
      host,
      model: this._editorModel,
      // A box of fixed height: no blank page after the last line.
      config: { lineNumbers: true, scrollPastEnd: false },
      extensions: [
        markerExtension,
        this._labelled.of(labelAttributes(this.model.get('label') as string)),
        Prec.highest(EditorView.domEventHandlers({ keydown: event => this._onKeydown(event) })),
        EditorView.updateListener.of(update => {
          if (update.docChanged || update.selectionSet) {
            this._scheduleSync();
          }
        })
      ]
    });
    if (!(editor instanceof CodeMirrorEditor)) {
      editor.dispose();
      throw new Error('the editor service does not make CodeMirror editors');
    }
    this._editor = editor;
    // Leaving the editor (a click on Validate or Create starts with this) sends the text first.
    host.addEventListener('focusout', () => this._sync());

    this._showMarkers();
    this._placeCursor(this._sentCursor, false);
    this.listenTo(this.model, 'change:value', this._onValue);
    this.listenTo(this.model, 'change:markers', this._showMarkers);
    this.listenTo(this.model, 'change:cursor', this._onCursor);
    this.listenTo(this.model, 'change:language', () => {
      this._editorModel!.mimeType = mimeOf(this.model.get('language') as string);
    });
    this.listenTo(this.model, 'change:label', () => {
      this._editor?.editor.dispatch({
        effects: this._labelled.reconfigure(labelAttributes(this.model.get('label') as string))
      });
    });

    if (!this.model.get('rendered')) {
      this.model.set('rendered', true);
      this.model.save_changes();
    }
  }

  /** Let CodeMirror measure again once the view is shown or resized. */
  processLuminoMessage(msg: Message): void {
    super.processLuminoMessage(msg);
    if (['after-attach', 'after-show', 'resize'].includes(msg.type)) {
      this._editor?.editor.requestMeasure();
    }
  }

  remove(): void {
    // A view removed because its model closed has no comm left to send on.
    if (this.model.comm_live) {
      this._sync();
    }
    this._editor?.dispose();
    this._editorModel?.dispose();
    this._editor = null;
    this._editorModel = null;
    return super.remove();
  }

  /** The editor's cursor as a 1-based (line, column). */
  private _cursor(): Cursor {
    const view = this._editor!.editor;
    const head = view.state.selection.main.head;
    const line = view.state.doc.lineAt(head);
    return [line.number, head - line.from + 1];
  }

  private _scheduleSync(): void {
    if (this._timer === null) {
      this._timer = window.setTimeout(() => this._sync(), SYNC_DELAY_MS);
    }
  }

  /** Send the text and cursor to the kernel now, if either changed since last sent. */
  private _sync(): void {
    if (this._timer !== null) {
      window.clearTimeout(this._timer);
      this._timer = null;
    }
    if (!this._editor) {
      return;
    }
    const value = this._editor.model.sharedModel.getSource();
    const cursor = this._cursor();
    if (value === this._sent && cursor[0] === this._sentCursor[0] && cursor[1] === this._sentCursor[1]) {
      return;
    }
    this._sent = value;
    this._sentCursor = cursor;
    this.send({ event: 'edit', value, cursor, revision: this.model.get('_revision') });
    // Mirror it in the model without a state update (set_state does not sync back): other views
    // of this model follow, and the kernel's next change of `value` differs from it and shows.
    this.model.set_state({ value, cursor });
  }

  /** A new `value` from the kernel (a template loaded, the wizard's text): show it from the top. */
  private _onValue(model: WidgetModel, value: string): void {
    if (!this._editor || value === this._editor.model.sharedModel.getSource()) {
      return;
    }
    this._sent = value;
    const view = this._editor.editor;
    view.dispatch({
      changes: { from: 0, to: view.state.doc.length, insert: value },
      selection: { anchor: 0 },
      effects: EditorView.scrollIntoView(0, { y: 'start' })
    });
    this._sentCursor = this._cursor();
  }

  /** A `cursor` set by the kernel; the view's own cursor, mirrored back, is already there. */
  private _onCursor(model: WidgetModel, cursor: Cursor): void {
    const here = this._editor ? this._cursor() : null;
    if (here && (here[0] !== cursor[0] || here[1] !== cursor[1])) {
      this._placeCursor(cursor, false);
    }
  }

  private _showMarkers(): void {
    const markers = (this.model.get('markers') ?? []) as IMarker[];
    this._editor?.editor.dispatch({ effects: setMarkers.of(markers) });
  }

  /** Put the cursor at a 1-based (line, column), clamped to the text; optionally focus there. */
  private _placeCursor(cursor: Cursor, focus: boolean): void {
    if (!this._editor) {
      return;
    }
    const view = this._editor.editor;
    const doc = view.state.doc;
    const line = doc.line(Math.min(Math.max(1, cursor[0]), doc.lines));
    const anchor = line.from + Math.min(Math.max(0, cursor[1] - 1), line.length);
    view.dispatch({ selection: { anchor }, effects: EditorView.scrollIntoView(anchor, { y: 'center' }) });
    this._sentCursor = this._cursor();
    if (focus) {
      this._editor.focus();
    }
  }

  /** Custom messages from the kernel: `reveal`, and ipywidgets' own focus and blur. */
  handle_message(content: { event?: string; line?: number; column?: number; do?: string }): void {
    if (content.event === 'reveal' && typeof content.line === 'number') {
      this._placeCursor([content.line, content.column ?? 1], true);
    } else if (content.do === 'focus') {
      this._editor?.focus();
    } else if (content.do === 'blur') {
      this._editor?.blur();
    }
  }

  /**
   * Ctrl/Cmd-Enter asks the kernel to validate. The event stops here so no JupyterLab shortcut
   * on the same keys (a notebook's "run cell", where the panel is inline) also runs.
   */
  private _onKeydown(event: KeyboardEvent): boolean {
    if (event.key !== 'Enter' || !(event.ctrlKey || event.metaKey) || event.altKey || event.shiftKey) {
      return false;
    }
    event.preventDefault();
    event.stopPropagation();
    this._sync();
    this.send({ event: 'submit' });
    return true;
  }

  private _editor: CodeMirrorEditor | null = null;
  private _editorModel: CodeEditor.Model | null = null;
  /** Holds the aria-label, so a new `label` replaces it. */
  private _labelled = new Compartment();
  private _timer: number | null = null;
  /** The text and cursor the kernel was last told (or told us). */
  private _sent = '';
  private _sentCursor: Cursor = [1, 1];
}

/** The text box's accessible name as CodeMirror content attributes; none for an empty label. */
function labelAttributes(label: string): Extension {
  return label ? EditorView.contentAttributes.of({ 'aria-label': label }) : [];
}

/** The MIME type JupyterLab's language registry gives a language name such as "yaml". */
function mimeOf(language: string): string {
  const spec = services?.languages.findBest(language);
  const mime = spec?.mime;
  return (Array.isArray(mime) ? mime[0] : (mime as string | undefined)) ?? PLAIN_MIME;
}

/** Give the editor views JupyterLab's editor factory and languages (widget_module.ts calls it). */
export function useEditorServices(editorServices: IEditorServices, languages: IEditorLanguageRegistry): void {
  services = { factory: editorServices.factoryService.newDocumentEditor, languages };
}
