/**
 * Binds an ipywidgets manager to a panel's own kernel and rendermime clone.
 *
 * A panel that is not a notebook gets no widget manager from @jupyter-widgets/jupyterlab-manager,
 * so widget views would stay at "Loading widget...". `registerWidgetManager` is the one
 * exported entry point that builds a full `WidgetManager` from the shared module, and with it
 * every widget library other extensions registered (core controls, output, third-party). It
 * expects a document context; the stand-in below supplies the few members it reads
 * (sessionContext, saveState, model metadata/dirty, urlResolver). The call is kept in this one
 * module because upstream marks it legacy (see jupyter-notes.md §1.2, option B).
 */
import { registerWidgetManager } from '@jupyter-widgets/jupyterlab-manager';
import { ISessionContext } from '@jupyterlab/apputils';
import { IRenderMimeRegistry, RenderMimeRegistry } from '@jupyterlab/rendermime';
import { Contents } from '@jupyterlab/services';
import { IDisposable } from '@lumino/disposable';
import { Signal } from '@lumino/signaling';

/** The MIME type of an ipywidgets view in an output. */
export const WIDGET_VIEW_MIMETYPE = 'application/vnd.jupyter.widget-view+json';

type WidgetContext = Parameters<typeof registerWidgetManager>[0];

/**
 * Bind a widget manager to `rendermime` for the kernel of `sessionContext`.
 *
 * Resolves once the widget renderer bound to the manager has replaced the placeholder on
 * `rendermime`, so outputs executed afterwards render live widgets.
 *
 * @param sessionContext a session context that has been initialized (its kernel may still be starting)
 * @param rendermime a clone owned by the panel; it is modified in place
 * @param contents the app's contents manager, used to resolve widget URLs
 * @param path the session path, against which relative widget URLs resolve
 * @returns a disposable that unbinds the renderer and disposes the manager
 * @throws Error when the renderer is not installed within `timeoutMs`
 */
export async function bindWidgetManager(
  sessionContext: ISessionContext,
  rendermime: IRenderMimeRegistry,
  contents: Contents.IManager,
  path: string,
  timeoutMs = 30000
): Promise<IDisposable> {
  const placeholder = rendermime.getFactory(WIDGET_VIEW_MIMETYPE);
  const context = {
    sessionContext,
    saveState: new Signal<unknown, string>({}),
    model: { dirty: false, getMetadata: (): undefined => undefined, setMetadata: (): void => {} },
    urlResolver: new RenderMimeRegistry.UrlResolver({ path, contents })
  } as unknown as WidgetContext;
  const binding = registerWidgetManager(context, rendermime, [][Symbol.iterator]());
  // registerWidgetManager installs its renderer only after the kernel is ready; wait for the
  // swap so the bootstrap output is not caught by the manager-less placeholder.
  const deadline = Date.now() + timeoutMs;
  while (rendermime.getFactory(WIDGET_VIEW_MIMETYPE) === placeholder) {
    if (Date.now() > deadline) {
      binding.dispose();
      throw new Error('the ipywidgets manager did not bind to the panel kernel');
    }
    await new Promise(resolve => setTimeout(resolve, 50));
  }
  return binding;
}
