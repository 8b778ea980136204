/**
 * The name and version of the widget module the panel's own views are registered under
 * (own_widgets.ts). The Python models name it in `_model_module` and `_view_module`
 * (`dtrain_jupyter/ui/own_widget.py`) and ask for `^` the version; tests keep the two equal.
 */
export const MODULE_NAME = 'dtrain-jupyter';
export const MODULE_VERSION = '0.1.0';

/** The module fields of a model's defaults, for the model and view classes named. */
export function moduleDefaults(modelName: string, viewName: string): Record<string, string> {
  return {
    _model_name: modelName,
    _view_name: viewName,
    _model_module: MODULE_NAME,
    _view_module: MODULE_NAME,
    _model_module_version: `^${MODULE_VERSION}`,
    _view_module_version: `^${MODULE_VERSION}`
  };
}
