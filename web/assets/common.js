// What the shop page and the console share: calling the API with its error model, and
// writing HTML safely.

// An API error: the HTTP status and the error body's code and message (SPEC section 4).
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// Calls `path` on this origin with `token` as the bearer (if any) and a JSON body (if
// any). Resolves to the parsed JSON (or the text of a non-JSON body); rejects with an
// ApiError, status 0 and code network_error when the server does not answer.
export async function callApi(path, { method = "GET", body, idempotencyKey, token } = {}) {
  const headers = {};
  if (token) headers.Authorization = "Bearer " + token;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (idempotencyKey) headers["Idempotency-Key"] = idempotencyKey;
  let res;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new ApiError(0, "network_error", "the server did not answer: " + e.message);
  }
  const text = await res.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { /* a text body: /metrics */ }
  if (!res.ok) {
    const err = json && json.error ? json.error : { code: "http_" + res.status, message: text.slice(0, 300) };
    throw new ApiError(res.status, err.code, err.message);
  }
  return json ?? text;
}

export const esc = (v) => String(v ?? "").replace(/[&<>"']/g, (c) =>
  ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);

// A status with a symbol before it (keel.css), readable without colour.
export const status = (s) => `<span class="status s-${esc(s)}">${esc(s)}</span>`;

// The error as the API gave it: its code, its message and the HTTP status.
export function errorBox(e) {
  if (e instanceof ApiError) {
    return `<p class="error" role="alert"><code>${esc(e.code)}</code> ${esc(e.message)}` +
      (e.status ? ` <span class="muted">(HTTP ${e.status})</span>` : "") + "</p>";
  }
  return `<p class="error" role="alert">${esc(e && e.message ? e.message : e)}</p>`;
}

// A short message in the corner for 4 seconds.
export function toast(text) {
  const t = document.getElementById("toast");
  t.textContent = text;
  setTimeout(() => { if (t.textContent === text) t.textContent = ""; }, 4000);
}
