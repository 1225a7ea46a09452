// What the page knows about the gateway's API: endpoints, the API key, the label names, and
// reading its JSON.

export const ANALYZE_URL = "/v1/emotions";
export const MODELS_URL = "/v1/models";
export const STREAM_PATH = "/v1/emotions/stream";
export const UPLOAD_FIELD = "image";
const KEY_STORAGE = "emotion-api-key";

// The key lives in this browser's storage only and is sent as X-API-Key (or, on the WebSocket,
// in the first message).
export function bindApiKey(input) {
  input.value = localStorage.getItem(KEY_STORAGE) || "";
  input.addEventListener("input", () => localStorage.setItem(KEY_STORAGE, input.value.trim()));
}

export const apiKey = () => document.getElementById("api-key").value.trim();

// The label names, in the model's order, come from the gateway (GET /v1/models), so the page keeps
// no list of its own. Asked once per page load: a /v1/* call counts against the key's quota, and a
// failed one (no key yet, model still loading) against the address's failed attempts.
let labelNames = null;

export async function loadLabelNames() {
  const headers = apiKey() ? { "X-API-Key": apiKey() } : {};
  try {
    const response = await fetch(MODELS_URL, { headers });
    const names = response.ok ? (await response.json()).label_names : null;
    if (Array.isArray(names) && names.length) labelNames = names;
  } catch (_) { /* unreachable or not JSON: keep the fallback */ }
}

// Until (or unless) the gateway has answered, a result's own scores name every label, in the
// order the gateway sent them, which is the model's order too.
export const labelOrder = (scores) => labelNames || Object.keys(scores);

// Errors come as {"error": {"code", "message"}}; Retry-After comes as a header (REST) or a field (stream).
export async function readError(response) {
  let body = null;
  try { body = await response.json(); } catch (_) { /* not JSON: fall back to the status */ }
  const err = (body && body.error) || {};
  return {
    code: err.code || `http_${response.status}`,
    message: err.message || `The gateway answered ${response.status} ${response.statusText}.`,
    retryAfter: response.headers.get("Retry-After") || err.retry_after || null,
  };
}

// One place that reads a result (REST body or stream message), so drawing never guesses fields.
export function readResult(json) {
  return {
    faces: (json.faces || []).map((face) => ({
      box: face.box,
      emotion: face.emotion,
      confidence: face.confidence,
      uncertain: Boolean(face.uncertain),
      scores: face.scores,
      trackId: face.track_id,
    })),
    version: json.model ? json.model.version : null,
    image: json.image || null,
    frame: json.frame,
  };
}
