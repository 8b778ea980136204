/**
 * The name and version of the widget module the panel's own views are registered under
 * (own_widgets.ts). The Python models name it in `_model_module` and `_view_module`
 * (`dtrain_jupyter/ui/code_editor.py`) and ask for `^` the version; tests keep the two equal.
 */
export const MODULE_NAME = 'dtrain-jupyter';
export const MODULE_VERSION = '0.1.0';
