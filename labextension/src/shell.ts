/**
 * The widget that hosts the Python panel: its own kernel, an OutputArea, a status banner.
 *
 * The panel itself is Python (`dtrain_jupyter.ui.show_panel`); this widget only gives it a
 * kernel and a place to render. Lifecycle contract:
 * - `start()` starts (or, after a page reload, reconnects to) the kernel of `sessionPath`,
 *   binds a widget manager and runs the bootstrap code. It is idempotent.
 * - A kernel restart, or a new kernel, re-runs the bootstrap (the Python app died with the
 *   old kernel).
 * - `dispose()` (closing the tab) shuts the kernel down. A page reload disposes nothing, so
 *   the kernel survives and the restored tab reconnects to it.
 * - `warm()` does all of `start()` ahead of time, before the shell is shown: starts the kernel,
 *   binds the widget manager and runs the bootstrap into the (still detached) output area, so
 *   the panel's widget models are built and its views drawn off screen. A later `start()` finds
 *   the panel there and has nothing left to do; attaching the shell shows it (issue 18: the
 *   widget models' messages and view builds were most of the click -> first rows time).
 */
import { ISessionContext, SessionContext } from '@jupyterlab/apputils';
import { OutputArea, OutputAreaModel } from '@jupyterlab/outputarea';
import { IRenderMime, IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { Kernel, ServerConnection, ServiceManager } from '@jupyterlab/services';
import { IDisposable } from '@lumino/disposable';
import { Message } from '@lumino/messaging';
import { Panel, Widget } from '@lumino/widgets';

import { requestAPI } from './request';
import { bindWidgetManager, WIDGET_VIEW_MIMETYPE } from './widgets';

/**
 * The Python that renders the panel; `compact` picks the narrow sidebar layout.
 *
 * `labextension=True` tells the panel that this front end has the views of row_line.ts, so its
 * job rows take fewer widget models. show_panel displays the app and also returns it; the
 * trailing semicolon keeps IPython from displaying that return value a second time as the
 * cell's result.
 */
export function bootstrapCode(compact: boolean): string {
  const layout = compact ? 'True' : 'False';
  return `from dtrain_jupyter.ui import show_panel; show_panel(compact=${layout}, labextension=True);`;
}

/** The panel sessions asked of the server so far, by path (see startPanelSession). */
const panelSessions = new Map<string, Promise<void>>();

/**
 * Have the server extension start the panel's kernel session at `path` (server/panel_session.py),
 * or find it after a page reload. Its kernel reads the panel's code and the first job list while
 * the page connects to it. The shell's SessionContext then finds the session by its path, as
 * after a page reload. When the server cannot (an extension without that endpoint), the
 * SessionContext starts a plain kernel itself and the panel comes up as before, only later.
 *
 * Asked once per path until the shell of that path is disposed (its kernel is shut down then);
 * never rejects. The open command asks before it builds the tab, so the kernel starts while
 * JupyterLab places it; the shell awaits the same request.
 */
export function startPanelSession(path: string, serverSettings: ServerConnection.ISettings): Promise<void> {
  let started = panelSessions.get(path);
  if (!started) {
    started = requestAPI<unknown>('panel-session', serverSettings, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ path, name: SESSION_NAME, kernel: KERNEL_NAME })
    }).then(
      () => undefined,
      error => {
        // Asked again next time: the SessionContext may start (or restart) a plain kernel meanwhile.
        panelSessions.delete(path);
        console.debug('dtrain: the panel session was not started by the server', error);
      }
    );
    panelSessions.set(path, started);
  }
  return started;
}

/** A typesetter that leaves text as it is (see the constructor). */
const PLAIN_TEXT_MATH: IRenderMime.ILatexTypesetter = { typeset: (): void => undefined };

/** Kernel spec the panel runs on. */
export const KERNEL_NAME = 'python3';
/** The panel session's name, as JupyterLab's running-sessions list shows it. */
const SESSION_NAME = 'Distributed Training';

export namespace DTrainShell {
  export interface IOptions {
    /** The app's service manager (sessions, kernel specs, contents). */
    serviceManager: ServiceManager.IManager;
    /** The app's rendermime registry; the shell works on a clone of it. */
    rendermime: IRenderMimeRegistry;
    /** Session path of the panel kernel; the same path reconnects to the same kernel. */
    sessionPath: string;
    /** Narrow layout for the left sidebar. */
    compact: boolean;
  }
}

/** Hosts one ipywidgets panel in its own kernel. */
export class DTrainShell extends Panel {
  constructor(options: DTrainShell.IOptions) {
    super();
    this.compact = options.compact;
    this.sessionPath = options.sessionPath;
    this._contents = options.serviceManager.contents;
    this._serverSettings = options.serviceManager.serverSettings;
    this.addClass('dtrain-shell');
    if (this.compact) {
      this.addClass('dtrain-shell-sidebar');
    }
    this._banner = new Widget();
    this._banner.addClass('dtrain-shell-banner');
    this.addWidget(this._banner);

    // No LaTeX typesetting in the panel: the widget views would otherwise typeset every label
    // and description, so a "$" in a job name, reason or log line would turn into math, and
    // the first label drawn would pull in MathJax (about 300 kB of script) while a person waits.
    this._rendermime = options.rendermime.clone({ latexTypesetter: PLAIN_TEXT_MATH });
    // Trusted: the widget view renderer is not "safe", and an untrusted model would fall back
    // to the text/plain repr of the widget instead of rendering it.
    this.outputArea = new OutputArea({
      model: new OutputAreaModel({ trusted: true }),
      rendermime: this._rendermime
    });
    this.outputArea.addClass('dtrain-shell-output');
    this.addWidget(this.outputArea);

    this.sessionContext = new SessionContext({
      sessionManager: options.serviceManager.sessions,
      specsManager: options.serviceManager.kernelspecs,
      path: this.sessionPath,
      name: SESSION_NAME,
      type: 'dtrain',
      kernelPreference: {
        name: KERNEL_NAME,
        shouldStart: true,
        canStart: true,
        shutdownOnDispose: true,
        skipKernelRestartDialog: true
      }
    });
    this.sessionContext.statusChanged.connect(this._onStatusChanged, this);
    this.sessionContext.kernelChanged.connect(this._onKernelChanged, this);
  }

  /** Narrow (sidebar) layout. */
  readonly compact: boolean;
  /** Session path of the panel kernel. */
  readonly sessionPath: string;
  /** The panel kernel's session. */
  readonly sessionContext: ISessionContext;
  /** Where the bootstrap output, and so the panel, renders. */
  readonly outputArea: OutputArea;

  /**
   * Start or reconnect the kernel, bind the widget manager, run the bootstrap.
   *
   * Safe to call more than once: later calls return the first call's promise. Failures are
   * shown in the banner, never thrown into the command that opened the panel.
   */
  start(): Promise<void> {
    if (!this._started) {
      this._started = this._start().catch(error => {
        this._setBanner(`Could not start the panel kernel: ${errorMessage(error)}`, true);
      });
    }
    return this._started;
  }

  /**
   * Start the kernel, bind the widget manager and render the panel into the output area while
   * the shell is not yet on screen. Resolves true when the panel was rendered, false when
   * something failed (never rejects: start() runs the bootstrap again when the panel is opened
   * and reports the failure then).
   */
  warm(): Promise<boolean> {
    if (!this._warmed) {
      this._warmed = this._prepare()
        .then(() => this._bootstrapOnce())
        .then(() => this._showsPanel())
        .catch(() => false);
    }
    return this._warmed;
  }

  /** The sidebar starts its kernel the first time it is shown, not at page load. */
  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    if (this.compact) {
      void this.start();
    }
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._binding?.dispose();
    this._binding = null;
    // shutdownOnDispose: disposing the session context shuts the kernel down.
    this.sessionContext.dispose();
    panelSessions.delete(this.sessionPath);
    super.dispose();
  }

  private async _start(): Promise<void> {
    await this._prepare();
    const drawnEarly = this._firstBootstrap !== null; // by warm(), while JupyterLab was idle
    await this._bootstrapOnce();
    if (drawnEarly && !this._showsPanel()) {
      // The warm run found no server then (its output says why): try again now, so the
      // person sees the panel, or why not as of now rather than as of page load.
      await this._bootstrap();
    }
  }

  /** The first bootstrap, shared by warm() and start(): a click while warming waits for it. */
  private _bootstrapOnce(): Promise<void> {
    if (!this._firstBootstrap) {
      this._firstBootstrap = this._bootstrap();
    }
    return this._firstBootstrap;
  }

  /** Whether the last bootstrap ran and left a widget view (the panel) in the output area. */
  private _showsPanel(): boolean {
    if (this.node.dataset.dtrainBootstrap !== 'done') {
      return false;
    }
    const outputs = this.outputArea.model;
    for (let i = 0; i < outputs.length; i++) {
      if (WIDGET_VIEW_MIMETYPE in outputs.get(i).data) {
        return true;
      }
    }
    return false;
  }

  /** Kernel started and widget manager bound; once, shared by warm() and start(). */
  private _prepare(): Promise<void> {
    if (!this._prepared) {
      this._prepared = this._startKernel();
    }
    return this._prepared;
  }

  private async _startKernel(): Promise<void> {
    this._setBanner('Starting the panel kernel…');
    void this._checkServer();
    await startPanelSession(this.sessionPath, this._serverSettings);
    await this.sessionContext.initialize();
    await this.sessionContext.ready;
    if (!this.sessionContext.session?.kernel) {
      throw new Error(`no kernel could be started (kernel spec "${KERNEL_NAME}")`);
    }
    this._binding = await bindWidgetManager(
      this.sessionContext,
      this._rendermime,
      this._contents,
      this.sessionPath
    );
    this._bound = true;
  }

  /**
   * Ask the server extension which backends it serves. The Python panel needs that extension;
   * when it does not answer, its own words (say, "404: Not Found" for a server without the
   * extension enabled) go in the banner, so the person knows why the panel stays empty.
   */
  private async _checkServer(): Promise<void> {
    try {
      await requestAPI<unknown>('backends', this._serverSettings);
      this._serverError = '';
    } catch (error) {
      this._serverError = `The dtrain server extension did not answer: ${errorMessage(error)}`;
      this._setBanner(this._serverError, true);
    }
  }

  /** Clear the area and run the bootstrap code in the panel kernel. */
  private async _bootstrap(): Promise<void> {
    if (this.isDisposed) {
      return;
    }
    this.outputArea.model.clear();
    this._setBanner(this._serverError, this._serverError !== '');
    this._setBootstrapState('running');
    try {
      const reply = await OutputArea.execute(
        bootstrapCode(this.compact),
        this.outputArea,
        this.sessionContext
      );
      // The kernel's own error (a traceback) is already in the output area.
      this._setBootstrapState(reply?.content.status === 'ok' ? 'done' : 'error');
    } catch (error) {
      // The kernel died or restarted mid-run; the status handler runs the bootstrap again.
      this._setBootstrapState('error');
      this._setBanner(`The panel did not start: ${errorMessage(error)}`, true);
    }
  }

  /**
   * Mirror the bootstrap's progress in `data-dtrain-bootstrap` on the shell node: "running",
   * then "done" or "error" once the kernel has replied and every output has arrived. Tests
   * (and people in devtools) wait on it instead of guessing when rendering is over.
   */
  private _setBootstrapState(state: 'running' | 'done' | 'error'): void {
    this.node.dataset.dtrainBootstrap = state;
  }

  private _onStatusChanged(_: ISessionContext, status: Kernel.Status): void {
    if (status === 'restarting' || status === 'autorestarting') {
      this._pendingBootstrap = true;
      this._setBanner('Restarting the panel kernel…');
    } else if (status === 'idle' && this._pendingBootstrap && this._bound) {
      this._pendingBootstrap = false;
      void this._bootstrap();
    } else if (status === 'dead') {
      this._setBanner('The panel kernel is dead. Restart it from the toolbar.', true);
    }
  }

  private _onKernelChanged(
    _: ISessionContext,
    change: { oldValue: Kernel.IKernelConnection | null; newValue: Kernel.IKernelConnection | null }
  ): void {
    // The first kernel is bootstrapped by start(); only a replacement needs a new run.
    if (this._bound && change.oldValue && change.newValue) {
      this._pendingBootstrap = true;
    }
  }

  private _setBanner(text: string, isError = false): void {
    this._banner.node.textContent = text;
    this._banner.toggleClass('dtrain-shell-error', isError);
  }

  private _banner: Widget;
  private _rendermime: IRenderMimeRegistry;
  private _contents: ServiceManager.IManager['contents'];
  private _serverSettings: ServiceManager.IManager['serverSettings'];
  private _serverError = '';
  private _binding: IDisposable | null = null;
  private _started: Promise<void> | null = null;
  private _prepared: Promise<void> | null = null;
  private _warmed: Promise<boolean> | null = null;
  private _firstBootstrap: Promise<void> | null = null;
  private _bound = false;
  private _pendingBootstrap = false;
}

function errorMessage(error: unknown): string {
  if (error instanceof Error) {
    return error.message;
  }
  return String(error);
}
