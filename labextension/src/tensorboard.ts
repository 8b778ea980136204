/**
 * This server's TensorBoard in one JupyterLab tab, "TensorBoard".
 *
 * The panel (Python, ui/tensorboard_action.py) asks the server to run TensorBoard over the ticked
 * jobs, then shows a link to it:
 * `<a class="dtrain-open-tensorboard" href="<base path>dtrain/tensorboard/" target="_blank"
 *  data-dtrain-autoopen="<token>">`. Without this plugin it is an ordinary link to a new browser
 * tab. With it, the link opens in the tab at once: a MutationObserver sees it appear (each token
 * once, so a redrawn line opens nothing twice), and a plain left click on it inside a
 * `.dtrain-panel` opens it too (one capture-phase listener on the document, as open_in_lab.ts).
 * There is one such tab: a later link (another set of jobs, which restarted TensorBoard at the same
 * address) reloads it and brings it to the front.
 *
 * Only this server's own proxied TensorBoard is shown here (same origin, a path under
 * `<base_url>dtrain/tensorboard/`); any other href is left to the browser.
 */
import { ILabShell, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { MainAreaWidget } from '@jupyterlab/apputils';
import { PageConfig } from '@jupyterlab/coreutils';
import { IFrame } from '@jupyterlab/ui-components';

import { PANEL_SELECTOR, panelLinkClicked } from './open_in_lab';

/** The anchors handled, and those among them the panel asks to open at once. */
export const TENSORBOARD_LINK_SELECTOR = 'a.dtrain-open-tensorboard';
export const AUTOOPEN_SELECTOR = `${TENSORBOARD_LINK_SELECTOR}[data-dtrain-autoopen]`;
/** The one tab's id and class, for styling and tests. */
export const TENSORBOARD_TAB_ID = 'dtrain-tensorboard';
export const TENSORBOARD_TAB_CLASS = 'dtrain-tensorboard-tab';
/** Where the server proxies its TensorBoard, under its base URL (server/tensorboard_handlers.py). */
const PROXY_PATH = 'dtrain/tensorboard/';

/** `<base_url>dtrain/tensorboard/` as an absolute URL of this page's server. */
export function tensorBoardRoot(): URL {
  return new URL(PROXY_PATH, new URL(PageConfig.getBaseUrl(), window.location.href));
}

/**
 * Whether `href` is this server's own proxied TensorBoard: the same origin as the page and a
 * path under `<base_url>dtrain/tensorboard/`. The URL parser has already resolved `..` and `%2e%2e`
 * segments, so a path that only starts with the prefix and climbs out of it does not pass.
 */
export function isOwnTensorBoard(href: string): boolean {
  let url: URL;
  try {
    url = new URL(href, window.location.href);
  } catch {
    return false;
  }
  const root = tensorBoardRoot();
  return url.origin === root.origin && url.pathname.startsWith(root.pathname);
}

/** The TensorBoard link a click should open in the tab, or null when the browser should handle it. */
export function tensorBoardLinkOf(event: MouseEvent): HTMLAnchorElement | null {
  const anchor = panelLinkClicked(event, TENSORBOARD_LINK_SELECTOR);
  return anchor && isOwnTensorBoard(anchor.href) ? anchor : null;
}

/** The one TensorBoard tab: made on first use, reloaded by each later link. */
class TensorBoardTab {
  constructor(private readonly _shell: ILabShell) {}

  open(href: string): void {
    if (!isOwnTensorBoard(href)) {
      // Callers check first; this is the last line against scripts for a page of another origin.
      console.warn(`dtrain: not opening ${href} in the TensorBoard tab: it is not this server's TensorBoard`);
      return;
    }
    if (!this._tab || this._tab.isDisposed) {
      this._tab = this._create();
      this._shell.add(this._tab, 'main');
    }
    // Setting the src again reloads the page even at the same address: the server may have
    // restarted TensorBoard over other jobs behind it.
    this._tab.content.url = href;
    this._tab.node.dataset.dtrainHref = href;
    this._tab.title.caption = href;
    this._shell.activateById(this._tab.id);
  }

  private _create(): MainAreaWidget<IFrame> {
    // TensorBoard is a script application, so its frame gets scripts and its own origin back
    // (open_in_lab.ts gives its pages neither). With both, the sandbox is no boundary: TensorBoard's
    // scripts act with this page's origin, and so with the person's Jupyter login and JupyterLab
    // itself. That is accepted for this one page only: it is served through our authenticated
    // proxy, by the TensorBoard process this server started on its loopback address over the
    // person's own jobs, i.e. code the person already runs under their own login. Every other
    // address is refused above (isOwnTensorBoard), and no other exception (popups, forms, top
    // navigation) is given.
    const content = new IFrame({
      sandbox: ['allow-scripts', 'allow-same-origin'],
      referrerPolicy: 'same-origin'
    });
    const tab = new MainAreaWidget({ content });
    tab.id = TENSORBOARD_TAB_ID;
    tab.addClass(TENSORBOARD_TAB_CLASS);
    tab.title.label = 'TensorBoard';
    tab.title.closable = true;
    return tab;
  }

  private _tab: MainAreaWidget<IFrame> | null = null;
}

/** The links to open at once among `nodes` (added to the page), each token only the first time. */
function linksToOpen(nodes: NodeList, seen: Set<string>): HTMLAnchorElement[] {
  const found: HTMLAnchorElement[] = [];
  for (const node of Array.from(nodes)) {
    if (!(node instanceof Element)) {
      continue;
    }
    const anchors = node.matches(AUTOOPEN_SELECTOR)
      ? [node as HTMLAnchorElement]
      : Array.from(node.querySelectorAll<HTMLAnchorElement>(AUTOOPEN_SELECTOR));
    for (const anchor of anchors) {
      const token = anchor.dataset.dtrainAutoopen ?? '';
      if (!token || seen.has(token) || !anchor.closest(PANEL_SELECTOR)) {
        continue;
      }
      seen.add(token);
      found.push(anchor);
    }
  }
  return found;
}

/** JupyterLab only (the lab shell's main area): elsewhere the link opens a browser tab. */
export const tensorBoardPlugin: JupyterFrontEndPlugin<void> = {
  id: 'dtrain-jupyter:tensorboard',
  description: "Opens this server's TensorBoard, started from the panel, in a JupyterLab tab.",
  autoStart: true,
  requires: [ILabShell],
  activate: (_app: JupyterFrontEnd, shell: ILabShell): void => {
    const tab = new TensorBoardTab(shell);
    document.addEventListener(
      'click',
      event => {
        const anchor = tensorBoardLinkOf(event);
        if (anchor) {
          event.preventDefault();
          tab.open(anchor.href);
        }
      },
      true
    );
    const seen = new Set<string>();
    new MutationObserver(records => {
      for (const record of records) {
        for (const anchor of linksToOpen(record.addedNodes, seen)) {
          if (isOwnTensorBoard(anchor.href)) {
            tab.open(anchor.href);
          } else {
            console.warn(`dtrain: ${anchor.href} is not this server's TensorBoard; left as a link`);
          }
        }
      }
    }).observe(document.body, { childList: true, subtree: true });
  }
};
