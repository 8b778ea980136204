/**
 * dtrain-jupyter's JupyterLab plugin: the ways in to the Distributed Training panel.
 *
 * - a launcher card "Distributed Training" and a palette command "Distributed Training: Open",
 *   both running `dtrain:open`, which opens (or focuses) the panel in a main-area tab;
 * - a left-sidebar icon holding the same panel in its compact layout;
 * - Escape, focus and ARIA for every panel, which ipywidgets cannot give (keyboard.ts).
 * - a notification, with "Open logs", when a job created from this JupyterLab ends (notifications.ts).
 * - this server's TensorBoard, opened from the panel, in one JupyterLab tab (tensorboard.ts).
 * Each place runs its own kernel (see shell.ts). Tabs are tracked and restored on reload.
 * No job logic lives here: the panel is Python, talking to the server through its client.
 *
 * Warm kernel (setting `warmKernel`, on by default): once JupyterLab has restored its layout and
 * the browser is idle, the main panel's kernel is started and the panel rendered off screen, so
 * the first click on the card only places the tab: the jobs are already listed. It costs one
 * kernel ("Distributed Training" in the running-kernels list) per JupyterLab server, reused
 * across reloads, whose panel keeps its job list current (one long poll of the server's change
 * feed). `document.body.dataset.dtrainWarm` says "warming", then "ready" or "failed"; "off" (by
 * the setting) or "skipped" (the tab was restored open).
 */
import { IJupyterWidgetRegistry } from '@jupyter-widgets/base';
import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette, MainAreaWidget, Toolbar, WidgetTracker } from '@jupyterlab/apputils';
import { ILauncher } from '@jupyterlab/launcher';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { ISettingRegistry } from '@jupyterlab/settingregistry';

import { dtrainIcon } from './icons';
import { keyboardPlugin } from './keyboard';
import { notificationsPlugin } from './notifications';
import { openInLabPlugin } from './open_in_lab';
import { ownWidgetsPlugin } from './own_widgets';
import { DTrainShell, startPanelSession } from './shell';
import { tensorBoardPlugin } from './tensorboard';

export namespace CommandIDs {
  export const open = 'dtrain:open';
}

/** Label of the launcher card and the sidebar tab; the palette entry adds ": Open". */
const TITLE = 'Distributed Training';
/** Session paths of the two panel kernels; fixed so a reload reconnects to the same kernels. */
const MAIN_SESSION_PATH = 'dtrain-panel';
const SIDEBAR_SESSION_PATH = 'dtrain-sidebar';
/** DOM ids, stable so tests and users can find the widgets. */
const MAIN_ID = 'dtrain-main';
const SIDEBAR_ID = 'dtrain-sidebar';
/** Longest wait for an idle moment before warming the kernel anyway. */
const WARM_IDLE_TIMEOUT_MS = 3000;

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'dtrain-jupyter:plugin',
  description: 'Launcher card, palette command and sidebar panel for distributed training jobs.',
  autoStart: true,
  // Requiring the widget registry makes the ipywidgets manager plugin activate first.
  requires: [IRenderMimeRegistry, IJupyterWidgetRegistry],
  optional: [ILauncher, ICommandPalette, ILayoutRestorer, ISettingRegistry],
  activate: (
    app: JupyterFrontEnd,
    rendermime: IRenderMimeRegistry,
    _widgets: IJupyterWidgetRegistry,
    launcher: ILauncher | null,
    palette: ICommandPalette | null,
    restorer: ILayoutRestorer | null,
    settings: ISettingRegistry | null
  ): void => {
    const tracker = new WidgetTracker<MainAreaWidget<DTrainShell>>({ namespace: 'dtrain' });
    // The main panel made (and perhaps warmed) before anyone opened it; the command takes it.
    let pending: MainAreaWidget<DTrainShell> | null = null;
    const takeMainWidget = (): MainAreaWidget<DTrainShell> => {
      const widget = pending && !pending.isDisposed ? pending : createMainWidget(app, rendermime);
      pending = null;
      return widget;
    };

    app.commands.addCommand(CommandIDs.open, {
      label: args => (args['isLauncher'] ? TITLE : `${TITLE}: Open`),
      caption: 'Create, watch and inspect distributed training jobs',
      icon: args => (args['isPalette'] ? undefined : dtrainIcon),
      execute: async () => {
        const open = tracker.find(w => w.id === MAIN_ID && !w.isDisposed);
        if (!open) {
          // The kernel starts now, while the tab is built and placed (the shell awaits the same request).
          void startPanelSession(MAIN_SESSION_PATH, app.serviceManager.serverSettings);
        }
        const widget = open ?? takeMainWidget();
        // Ask the kernel for the panel first (start() is idempotent): it builds while the tab is placed.
        void widget.content.start();
        if (!open) {
          await tracker.add(widget);
          app.shell.add(widget, 'main');
        }
        app.shell.activateById(widget.id);
        return widget;
      }
    });

    if (launcher) {
      launcher.add({ command: CommandIDs.open, category: 'Other', rank: 0, args: { isLauncher: true } });
    }
    if (palette) {
      palette.addItem({ command: CommandIDs.open, category: TITLE, args: { isPalette: true } });
    }

    const sidebar = new DTrainShell({
      serviceManager: app.serviceManager,
      rendermime,
      sessionPath: SIDEBAR_SESSION_PATH,
      compact: true
    });
    sidebar.id = SIDEBAR_ID;
    sidebar.title.icon = dtrainIcon;
    sidebar.title.caption = TITLE;
    app.shell.add(sidebar, 'left', { rank: 700 });

    if (restorer) {
      void restorer.restore(tracker, {
        command: CommandIDs.open,
        args: () => ({}),
        name: () => 'dtrain'
      });
      restorer.add(sidebar, SIDEBAR_ID);
    }

    void warmWhenIdle(app, settings, () => {
      if (tracker.find(w => w.id === MAIN_ID)) {
        return null; // restored as an open tab: it started its kernel already
      }
      pending = pending ?? createMainWidget(app, rendermime);
      return pending.content;
    });
  }
};

/**
 * After the layout is restored and the browser is idle, warm the main panel's kernel unless
 * the `warmKernel` setting is off. `shellToWarm` returns null when there is nothing to warm.
 */
async function warmWhenIdle(
  app: JupyterFrontEnd,
  settings: ISettingRegistry | null,
  shellToWarm: () => DTrainShell | null
): Promise<void> {
  const mark = (state: string): void => {
    document.body.dataset.dtrainWarm = state;
  };
  let enabled = true;
  if (settings) {
    try {
      enabled = (await settings.load(plugin.id)).composite['warmKernel'] !== false;
    } catch {
      enabled = true; // no schema installed (a dev build): keep the default
    }
  }
  if (!enabled) {
    mark('off');
    return;
  }
  await app.restored;
  await new Promise<void>(resolve => {
    if ('requestIdleCallback' in window) {
      window.requestIdleCallback(() => resolve(), { timeout: WARM_IDLE_TIMEOUT_MS });
    } else {
      setTimeout(resolve, WARM_IDLE_TIMEOUT_MS);
    }
  });
  const shell = shellToWarm();
  if (!shell) {
    mark('skipped');
    return;
  }
  mark('warming');
  mark((await shell.warm()) ? 'ready' : 'failed');
}

/** A main-area tab holding the full-width panel, with a kernel restart button. */
function createMainWidget(
  app: JupyterFrontEnd,
  rendermime: IRenderMimeRegistry
): MainAreaWidget<DTrainShell> {
  const content = new DTrainShell({
    serviceManager: app.serviceManager,
    rendermime,
    sessionPath: MAIN_SESSION_PATH,
    compact: false
  });
  const widget = new MainAreaWidget({ content });
  widget.id = MAIN_ID;
  widget.title.label = TITLE;
  widget.title.icon = dtrainIcon;
  widget.title.closable = true;
  widget.toolbar.addItem('restart', Toolbar.createRestartButton(content.sessionContext));
  widget.toolbar.addItem('kernelName', Toolbar.createKernelNameItem(content.sessionContext));
  return widget;
}

export default [plugin, ownWidgetsPlugin, openInLabPlugin, keyboardPlugin, notificationsPlugin, tensorBoardPlugin];
