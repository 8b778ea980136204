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
 *   ServerConnection.ResponseError carrying the server's JSON `message` otherwise
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
      // A non-JSON body (a proxy's HTML error page, say) is still worth showing as is.
      data = text;
    }
  }
  if (!response.ok) {
    const message =
      data && typeof data === 'object' && typeof data.message === 'string'
        ? data.message
        : `${response.status} ${response.statusText}: ${String(data ?? '')}`.trim();
    throw new ServerConnection.ResponseError(response, message);
  }
  return data as T | null;
}
