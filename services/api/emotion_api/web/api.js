// What the page knows about the gateway's API: endpoints, the API key, and reading its JSON.

export const EMOTIONS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"];
export const ANALYZE_URL = "/v1/emotions";
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
