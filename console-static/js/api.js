// The session and every REST call (docs/console.md §1).
//
// The API token lives in the tab's sessionStorage (`apiKey`, `authenticated`). Every call
// sends it in X-RhoConnect-API-TOKEN and JSON bodies; responses are read as text and parsed
// here, whatever their Content-Type. A 422 means the token is no longer valid: the session
// is cleared and the console returns to Login.

const store = window.sessionStorage;

export class ApiError extends Error {
  constructor(status, text) {
    super(text || `HTTP ${status}`);
    this.status = status;
  }
}

export const session = {
  get token() {
    return store.getItem("apiKey") || "";
  },
  get authenticated() {
    return store.getItem("authenticated") === "true";
  },
  start(token) {
    store.setItem("apiKey", token);
    store.setItem("authenticated", "true");
  },
  clear() {
    store.removeItem("apiKey");
    store.removeItem("authenticated");
  },
};

/** Called on a 422 (set by console.js): clears the session and shows Login with the text. */
let onExpired = () => {};
export function setExpiredHandler(handler) {
  onExpired = handler;
}

/** One call; resolves to the response text, rejects with an ApiError. A GET answered 503
 * (a dependency not answering, docs/rest-api.md §1.4) is tried again after its Retry-After,
 * twice at most; writes are never repeated. */
export async function call(method, path, body) {
  const headers = { "X-RhoConnect-API-TOKEN": session.token };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  for (let attempt = 0; ; attempt++) {
    try {
      response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (error) {
      throw new ApiError(0, `Cannot reach the server: ${error.message}`);
    }
    if (response.status !== 503 || method !== "GET" || attempt >= 2) break;
    const wait = Math.min(5, Number(response.headers.get("Retry-After")) || 2);
    await new Promise((resolve) => setTimeout(resolve, wait * 1000));
  }
  const text = await response.text();
  if (response.status === 422) {
    session.clear();
    onExpired(text);
    throw new ApiError(422, text);
  }
  if (!response.ok) throw new ApiError(response.status, text || `${response.status} ${response.statusText}`);
  return text;
}

/** A call whose answer is JSON (parsed from the text; an empty body is null). */
export async function json(method, path, body) {
  const text = await call(method, path, body);
  return text.trim() === "" ? null : JSON.parse(text);
}

export const get = (path) => json("GET", path);

/** One path segment, URL-encoded. */
export const seg = (value) => encodeURIComponent(value);

/** GET /console/info (no token), cached for the page's life. */
let info;
export function consoleInfo() {
  info ||= fetch("info")
    .then((r) => r.text())
    .then((t) => JSON.parse(t))
    .catch(() => ({ version: "", sync_server: "", stats: false }));
  return info;
}
