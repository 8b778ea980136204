/**
 * Registers the panel's own widget views with the ipywidgets manager, as one module
 * (widget_module.ts): the code editor (code_editor.ts) and the job row (row_line.ts).
 * A module name is registered once, with every model and view it exports.
 */
import { IJupyterWidgetRegistry } from '@jupyter-widgets/base';
import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { IEditorServices } from '@jupyterlab/codeeditor';
import { IEditorLanguageRegistry } from '@jupyterlab/codemirror';

import { CodeEditorModel, CodeEditorView, useEditorServices } from './code_editor';
import { JobRowModel, JobRowView } from './row_line';
import { MODULE_NAME, MODULE_VERSION } from './widget_module';

export const ownWidgetsPlugin: JupyterFrontEndPlugin<void> = {
  id: 'dtrain-jupyter:code-editor',
  description: "The panel's own widgets: JupyterLab's CodeMirror editor and the job row.",
  autoStart: true,
  requires: [IJupyterWidgetRegistry, IEditorServices, IEditorLanguageRegistry],
  activate: (
    _app: JupyterFrontEnd,
    registry: IJupyterWidgetRegistry,
    editorServices: IEditorServices,
    languages: IEditorLanguageRegistry
  ): void => {
    useEditorServices(editorServices, languages);
    registry.registerWidget({
      name: MODULE_NAME,
      version: MODULE_VERSION,
      exports: { CodeEditorModel, CodeEditorView, JobRowModel, JobRowView }
    });
  }
};
