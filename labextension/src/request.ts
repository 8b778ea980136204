/**
 * The one door from the labextension to the dtrain server extension.
 *
 * Every HTTP call the shell makes goes through `requestAPI`, so authentication (token or
 * XSRF, added by `ServerConnection.makeRequest`) and error reporting are handled once.
 * The server answers errors as JSON `{"message": ..., "reason": ...}`; the message is what
 * a person can act on, so it becomes the thrown error's message rather than a bare status.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

/** URL namespace of the server extension, below the server's base URL. */
export const API_NAMESPACE = 'dtrain/api';

/**
 * Call the dtrain REST API.
 *
 * @param endPoint path below `<base_url>/dtrain/api/`, e.g. `jobs`
 * @param serverSettings the app's server settings (base URL, token, fetch)
 * @param init fetch options (method, body, headers)
 * @returns the response body parsed as JSON, or `null` for an empty body
 * @throws ServerConnection.NetworkError when the server cannot be reached;
 *   ServerConnection.ResponseError carrying the server's JSON `message` (else the status
 *   line) for an error status, or naming a success whose body is not JSON
 */
export async function requestAPI<T>(
  endPoint: string,
  serverSettings: ServerConnection.ISettings,
  init: RequestInit = {}
): Promise<T | null> {
  const url = URLExt.join(serverSettings.baseUrl, API_NAMESPACE, endPoint);
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, serverSettings);
  } catch (error) {
    throw new ServerConnection.NetworkError(error as TypeError);
  }
  const text = await response.text();
  let data: any = null;
  if (text.length > 0) {
    try {
      data = JSON.parse(text);
    } catch {
      // Not JSON: an HTML error page from the server or a proxy, never from our API.
      data = null;
    }
  }
  if (!response.ok) {
    // Our API's errors carry a message a person can act on; anything else (the server's HTML
    // 404 page when the extension is not enabled, say) is summed up by its status line.
    const message =
      data && typeof data === 'object' && typeof data.message === 'string'
        ? data.message
        : `${response.status} ${response.statusText}`.trim();
    throw new ServerConnection.ResponseError(response, message);
  }
  if (text.length > 0 && data === null) {
    throw new ServerConnection.ResponseError(response, `not JSON: ${text.slice(0, 200)}`);
  }
  return data as T | null;
}
