/**
 * JupyterLab notifications when a job created from this JupyterLab finishes or fails.
 *
 * "Created from this JupyterLab" is decided by the server: every job created through it (the
 * panel, the %dtrain magic, the Python client, the dtrain command, a re-run) is watched, and
 * `GET dtrain/api/notifications?since=CURSOR&wait=S` answers each one's move into Succeeded or
 * Failed, once (dtrain_jupyter/server/notifications.py). This plugin long-polls that feed and
 * shows each item as a toast with an "Open logs" action, which opens the Distributed Training
 * panel on that job's Log page (the panel's kernel runs `DTrainApp.open_log`).
 *
 * The first poll carries no cursor and is answered with the current one: a JupyterLab opened (or
 * reloaded) now hears of what ends from now on, not of every job that ended before, which the
 * panel lists anyway. Later polls keep their cursor across server restarts and outages, so what
 * ended meanwhile is still announced. Failed polls back off (1 s doubling to 60 s); polling stops
 * when the page goes or the setting `notifyJobEnds` is turned off.
 */
import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { MainAreaWidget, Notification } from '@jupyterlab/apputils';
import { ServerConnection } from '@jupyterlab/services';
import { ISettingRegistry } from '@jupyterlab/settingregistry';

import { requestAPI } from './request';
import type { DTrainShell } from './shell';

/** The panel's settings (schema/plugin.json), where `notifyJobEnds` lives. */
const SETTINGS_ID = 'dtrain-jupyter:plugin';
/** index.ts's command that opens (or focuses) the panel and returns its main-area widget. */
const OPEN_PANEL_COMMAND = 'dtrain:open';
/** Seconds the server may hold one poll (it caps them at 55). */
const WAIT_SECONDS = 25;
const FIRST_BACKOFF_MS = 1000;
const MAX_BACKOFF_MS = 60000;
/** A success toast goes by itself; a failure stays until dismissed (it is in the bell's list either way). */
const SUCCESS_TOAST_MS = 15000;

/** Which job an announcement is about. */
export interface IJobRef {
  backend: string;
  namespace: string;
  kind: string;
  name: string;
  uid: string;
}

/** One announcement of the server's feed. */
export interface IJobEnd {
  cursor: number;
  job: IJobRef;
  phase: 'Succeeded' | 'Failed';
  reason: string;
  message: string;
  finished: string;
}

interface IAnswer {
  cursor: number;
  items: IJobEnd[];
}

/** The toast's words: "Job x succeeded (PyTorchJob, local)", "Job x failed: Reason — message". */
export function announcement(end: IJobEnd): string {
  const { name, kind, backend } = end.job;
  if (end.phase === 'Succeeded') {
    return `Job ${name} succeeded (${kind}, ${backend})`;
  }
  const why = [end.reason, end.message].filter(part => part.trim() !== '').join(' — ');
  return why ? `Job ${name} failed: ${why}` : `Job ${name} failed (${kind}, ${backend})`;
}

/** The Python the panel's kernel runs for "Open logs"; JSON strings are valid Python literals. */
export function openLogCode(job: IJobRef): string {
  const args = [job.backend, job.namespace, job.kind, job.name].map(v => JSON.stringify(v)).join(', ');
  return `from dtrain_jupyter.ui import get_panel; get_panel().open_log(${args})`;
}

/** The wait before the next poll after `failures` failed ones in a row. */
export function backoffMs(failures: number): number {
  return failures <= 0 ? 0 : Math.min(FIRST_BACKOFF_MS * 2 ** (failures - 1), MAX_BACKOFF_MS);
}

/** Long-polls the feed and calls `announce` for each item, until stopped. */
class JobEndWatcher {
  constructor(
    private readonly _serverSettings: ServerConnection.ISettings,
    private readonly _announce: (end: IJobEnd) => void
  ) {}

  start(): void {
    if (this._abort) {
      return;
    }
    const abort = new AbortController();
    this._abort = abort;
    void this._run(abort.signal);
  }

  stop(): void {
    this._abort?.abort();
    this._abort = null;
    markState('off');
  }

  private async _run(signal: AbortSignal): Promise<void> {
    let cursor: number | null = null;
    let failures = 0;
    while (!signal.aborted) {
      const query: string =
        cursor === null ? 'notifications' : `notifications?since=${cursor}&wait=${WAIT_SECONDS}`;
      try {
        const answer = await requestAPI<IAnswer>(query, this._serverSettings, { signal });
        if (!answer || typeof answer.cursor !== 'number' || !Array.isArray(answer.items)) {
          throw new Error('the notifications answer is not {cursor, items}');
        }
        failures = 0;
        cursor = answer.cursor;
        if (!signal.aborted) {
          markState('on');
          answer.items.forEach(this._announce);
        }
      } catch (error) {
        if (signal.aborted) {
          return;
        }
        failures += 1;
        markState('retrying');
        if (failures === 1) {
          console.warn('dtrain: job notifications paused, retrying:', error);
        }
        await sleep(backoffMs(failures), signal);
      }
    }
  }

  private _abort: AbortController | null = null;
}

/**
 * `data-dtrain-notifications` on the body: "on" once the server has answered (from then on every
 * ending is announced), "retrying" while polls fail, "off". Tests and people in devtools read it.
 */
function markState(state: 'on' | 'retrying' | 'off'): void {
  document.body.dataset.dtrainNotifications = state;
}

/**
 * Wait `ms`, or less if `signal` aborts. The signal lives as long as the poller, so the abort
 * listener is removed when the timer fires: else every failed poll would leave one behind.
 */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise(resolve => {
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** Open the panel and show `job`'s log there (the panel's kernel does the work). */
async function openLog(app: JupyterFrontEnd, job: IJobRef): Promise<void> {
  const widget = (await app.commands.execute(OPEN_PANEL_COMMAND)) as MainAreaWidget<DTrainShell>;
  // The panel exists once its bootstrap has run; a failure there is already in its banner.
  await widget.content.start();
  const kernel = widget.content.sessionContext.session?.kernel;
  if (!kernel) {
    throw new Error('the Distributed Training panel has no kernel');
  }
  const reply = await kernel.requestExecute({ code: openLogCode(job), silent: true, store_history: false })
    .done;
  if (reply.content.status !== 'ok') {
    throw new Error(`the panel could not open the log of ${job.name}`);
  }
}

function show(app: JupyterFrontEnd, end: IJobEnd): void {
  const actions: Notification.IAction[] = [
    {
      label: 'Open logs',
      caption: `Open the Distributed Training panel on the log of ${end.job.name}`,
      callback: () => {
        openLog(app, end.job).catch(error => {
          Notification.error(`Could not open the log of ${end.job.name}: ${String(error?.message ?? error)}`);
        });
      }
    }
  ];
  if (end.phase === 'Succeeded') {
    Notification.success(announcement(end), { actions, autoClose: SUCCESS_TOAST_MS });
  } else {
    Notification.error(announcement(end), { actions, autoClose: false });
  }
}

export const notificationsPlugin: JupyterFrontEndPlugin<void> = {
  id: 'dtrain-jupyter:notifications',
  description: 'Notifies when a job created from this JupyterLab succeeds or fails.',
  autoStart: true,
  optional: [ISettingRegistry],
  activate: (app: JupyterFrontEnd, settings: ISettingRegistry | null): void => {
    const watcher = new JobEndWatcher(app.serviceManager.serverSettings, end => show(app, end));
    let wanted = true;
    const follow = (enabled: boolean): void => {
      wanted = enabled;
      if (enabled) {
        watcher.start();
      } else {
        watcher.stop();
      }
    };
    window.addEventListener('pagehide', () => watcher.stop());
    // A page restored from the browser's back-forward cache runs again: so does the feed.
    window.addEventListener('pageshow', event => {
      if (event.persisted) {
        follow(wanted);
      }
    });
    if (!settings) {
      follow(true);
      return;
    }
    settings
      .load(SETTINGS_ID)
      .then(loaded => {
        follow(loaded.composite['notifyJobEnds'] !== false);
        loaded.changed.connect(() => follow(loaded.composite['notifyJobEnds'] !== false));
      })
      .catch(() => follow(true)); // no schema installed (a dev build): keep the default
  }
};
