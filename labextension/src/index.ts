/**
 * dtrain-jupyter's JupyterLab plugin: the ways in to the Distributed Training panel.
 *
 * - a launcher card "Distributed Training" and a palette command "Distributed Training: Open",
 *   both running `dtrain:open`, which opens (or focuses) the panel in a main-area tab;
 * - a left-sidebar icon holding the same panel in its compact layout.
 * Each place runs its own kernel (see shell.ts). Tabs are tracked and restored on reload.
 * No job logic lives here: the panel is Python, talking to the server through its client.
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

import { dtrainIcon } from './icons';
import { DTrainShell } from './shell';

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

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'dtrain-jupyter:plugin',
  description: 'Launcher card, palette command and sidebar panel for distributed training jobs.',
  autoStart: true,
  // Requiring the widget registry makes the ipywidgets manager plugin activate first.
  requires: [IRenderMimeRegistry, IJupyterWidgetRegistry],
  optional: [ILauncher, ICommandPalette, ILayoutRestorer],
  activate: (
    app: JupyterFrontEnd,
    rendermime: IRenderMimeRegistry,
    _widgets: IJupyterWidgetRegistry,
    launcher: ILauncher | null,
    palette: ICommandPalette | null,
    restorer: ILayoutRestorer | null
  ): void => {
    const tracker = new WidgetTracker<MainAreaWidget<DTrainShell>>({ namespace: 'dtrain' });

    app.commands.addCommand(CommandIDs.open, {
      label: args => (args['isLauncher'] ? TITLE : `${TITLE}: Open`),
      caption: 'Create, watch and inspect distributed training jobs',
      icon: args => (args['isPalette'] ? undefined : dtrainIcon),
      execute: async () => {
        let widget = tracker.find(w => w.id === MAIN_ID) ?? null;
        if (!widget || widget.isDisposed) {
          widget = createMainWidget(app, rendermime);
          await tracker.add(widget);
          app.shell.add(widget, 'main');
        }
        app.shell.activateById(widget.id);
        void widget.content.start();
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
  }
};

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

export default plugin;
