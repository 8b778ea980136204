/**
 * Links in the panel that open in a JupyterLab tab instead of a browser tab.
 *
 * The panel (Python) renders such a link as
 * `<a class="dtrain-open-in-lab" href="..." target="_blank" data-dtrain-title="...">`. Without
 * this plugin (another front end, or a modified click) the browser follows it into a new tab.
 * With it, a plain left click inside a `.dtrain-panel` opens the href in a main-area tab: an
 * IFrame sandboxed with no exceptions (no scripts, no forms, no popups, an opaque origin, so the
 * page shown cannot act as the person in JupyterLab), titled by `data-dtrain-title` or else the
 * link's text. Each href gets one tab; clicking its link again brings that tab to the front.
 *
 * One listener on the document, in the capture phase, serves every panel: the links come and go
 * with the Python widgets' HTML, and no widget view in between can swallow the click first.
 */
import { ILabShell, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { MainAreaWidget } from '@jupyterlab/apputils';
import { IFrame } from '@jupyterlab/ui-components';

/** The anchors handled, and the panel they must be inside. */
export const LINK_SELECTOR = 'a.dtrain-open-in-lab';
export const PANEL_SELECTOR = '.dtrain-panel';
/** Class of the tabs this opens, for styling and tests. */
export const TAB_CLASS = 'dtrain-open-in-lab-tab';

/** Only web pages are opened in a tab; any other scheme is left to the browser. */
const WEB_PROTOCOLS = new Set(['http:', 'https:']);

/**
 * The anchor matching `selector` inside a panel that a plain left click (no modifier, not
 * handled yet) landed on, or null: a modified click stays the browser's (new tab, download).
 */
export function panelLinkClicked(event: MouseEvent, selector: string): HTMLAnchorElement | null {
  if (
    event.defaultPrevented ||
    event.button !== 0 ||
    event.ctrlKey ||
    event.metaKey ||
    event.shiftKey ||
    event.altKey ||
    !(event.target instanceof Element)
  ) {
    return null;
  }
  const anchor = event.target.closest<HTMLAnchorElement>(selector);
  return anchor && anchor.closest(PANEL_SELECTOR) ? anchor : null;
}

/** The link a click should open in a tab, or null when the browser should handle it. */
export function linkToOpen(event: MouseEvent): HTMLAnchorElement | null {
  const anchor = panelLinkClicked(event, LINK_SELECTOR);
  return anchor && WEB_PROTOCOLS.has(anchor.protocol) ? anchor : null;
}

/** The tab's title: the link's `data-dtrain-title`, else its text, else the href. */
export function titleOf(anchor: HTMLAnchorElement): string {
  const title = anchor.dataset.dtrainTitle?.trim() || anchor.textContent?.trim();
  return title || anchor.href;
}

/** Opens each href in at most one tab, and brings it forward on later clicks. */
class LinkTabs {
  constructor(private readonly _shell: ILabShell) {}

  open(anchor: HTMLAnchorElement): void {
    const href = anchor.href;
    let tab = this._tabs.get(href);
    if (!tab || tab.isDisposed) {
      tab = this._create(href, titleOf(anchor));
      this._shell.add(tab, 'main');
    }
    this._shell.activateById(tab.id);
  }

  private _create(href: string, title: string): MainAreaWidget<IFrame> {
    // No sandbox exception at all: the page is shown, nothing in it runs. The referrer goes to
    // this server only, which refuses a /files/ (XSSI check) or API read that comes without one.
    const content = new IFrame({ sandbox: [], referrerPolicy: 'same-origin' });
    content.url = href;
    const tab = new MainAreaWidget({ content });
    tab.id = `dtrain-open-in-lab-${++this._count}`;
    tab.addClass(TAB_CLASS);
    tab.title.label = title;
    tab.title.caption = href;
    tab.title.closable = true;
    tab.node.dataset.dtrainHref = href;
    this._tabs.set(href, tab);
    tab.disposed.connect(() => {
      if (this._tabs.get(href) === tab) {
        this._tabs.delete(href);
      }
    });
    return tab;
  }

  private _tabs = new Map<string, MainAreaWidget<IFrame>>();
  private _count = 0;
}

/**
 * JupyterLab only (it needs the lab shell's main area): in Notebook 7 the links keep opening in
 * a browser tab.
 */
export const openInLabPlugin: JupyterFrontEndPlugin<void> = {
  id: 'dtrain-jupyter:open-in-lab',
  description: 'Opens the panel\'s "open in JupyterLab" links in a sandboxed main-area tab.',
  autoStart: true,
  requires: [ILabShell],
  activate: (_app: JupyterFrontEnd, shell: ILabShell): void => {
    const tabs = new LinkTabs(shell);
    document.addEventListener(
      'click',
      event => {
        const anchor = linkToOpen(event);
        if (anchor) {
          event.preventDefault();
          tabs.open(anchor);
        }
      },
      true
    );
  }
};
