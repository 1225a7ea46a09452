// Drawing: the message line, the model badge, face boxes over a photo or video, and score bars.

import { labelOrder } from "./api.js";

export const $ = (id) => document.getElementById(id);

const ERROR_TEXT = {
  rate_limited: "Too many requests right now. Please wait a moment and try again.",
  invalid_image: "This file could not be read as an image.",
  unsupported_media_type: "This file type is not supported. Use a JPEG or PNG photo.",
  payload_too_large: "This file is too large.",
  image_too_large: "This image has too many pixels.",
  unauthorized: "This gateway needs an API key: enter it in the API key field at the top.",
  backend_unavailable: "The model is not available right now. Try again in a few seconds.",
  overloaded: "The gateway is busy. Try again in a moment.",
  timeout: "The gateway took too long to answer. Try again.",
};

export function showMessage(text, kind = "error", code = kind) {
  const box = $("message");
  box.textContent = text;
  box.className = `message ${kind}`;
  box.dataset.code = code;
  box.hidden = false;
}

export function clearMessage() {
  const box = $("message");
  box.hidden = true;
  box.textContent = "";
  delete box.dataset.code;
}

export const hasMessage = () => Boolean($("message").dataset.code);

export function showError(error) {
  const friendly = ERROR_TEXT[error.code];
  let text = friendly || error.message || "Something went wrong.";
  if (friendly && error.message && error.code.endsWith("too_large")) text = `${friendly} ${error.message}`;
  if (error.code === "unauthorized" && /not valid/.test(error.message || "")) {
    text = "The API key was not accepted. Check the API key field at the top.";
  }
  if (error.retryAfter) text += ` (retry in ${error.retryAfter} s)`;
  showMessage(text, error.code === "rate_limited" ? "warn" : "error", error.code || "error");
}

export function showVersion(version) {
  if (version === undefined || version === null) return;
  $("model-version").textContent = `model v${version}`;
  $("model-version").dataset.version = String(version);
}

const percent = (value) => `${(100 * value).toFixed(1)}%`;
const topEmotion = (labels, scores) => labels.reduce((a, b) => ((scores[a] || 0) >= (scores[b] || 0) ? a : b));

// Boxes are divs placed in percent of the media's pixel size, so they follow any displayed width
// and stay clickable; a box keeps its element across frames (by track id) so it can glide.
export function renderBoxes(overlay, faces, width, height, selected, onSelect) {
  const present = new Map([...overlay.children].map((el) => [el.dataset.key, el]));
  faces.forEach((face, index) => {
    const key = face.trackId !== undefined ? `t${face.trackId}` : `f${index}`;
    let el = present.get(key);
    present.delete(key);
    if (!el) {
      el = document.createElement("div");
      el.dataset.key = key;
      el.setAttribute("role", "button");
      el.tabIndex = 0;
      el.append(document.createElement("span"));
      el.firstChild.className = "face-label";
      overlay.append(el);
    }
    const { x, y, width: w, height: h } = face.box;
    el.style.left = percent(x / width);
    el.style.top = percent(y / height);
    el.style.width = percent(w / width);
    el.style.height = percent(h / height);
    el.className = `face-box c-${face.emotion}` + (index === selected ? " selected" : "") +
      (y / height < 0.08 ? " label-inside" : "") + (face.uncertain ? " uncertain" : "");
    el.dataset.emotion = face.emotion;
    el.dataset.uncertain = String(Boolean(face.uncertain));
    if (face.trackId !== undefined) el.dataset.trackId = String(face.trackId);
    const label = `${face.emotion} ${Math.round(100 * face.confidence)}%` + (face.uncertain ? " · uncertain" : "");
    el.firstChild.textContent = label;
    el.setAttribute("aria-label", `Face ${index + 1}: ${label}`);
    el.onclick = () => onSelect(index, face);
    el.onkeydown = (event) => { if (event.key === "Enter" || event.key === " ") onSelect(index, face); };
  });
  present.forEach((el) => el.remove());
}

export function renderBars(container, scores) {
  if (!scores) { container.replaceChildren(); delete container.dataset.labels; return; }
  const labels = labelOrder(scores);
  if (container.dataset.labels !== labels.join(",")) {
    container.dataset.labels = labels.join(",");
    container.replaceChildren(...labels.map((emotion) => {
      const row = document.createElement("div");
      row.className = `bar c-${emotion}`;
      row.dataset.emotion = emotion;
      const name = document.createElement("span");
      name.className = "bar-name";
      name.textContent = emotion;
      const track = document.createElement("span");
      track.className = "bar-track";
      track.append(Object.assign(document.createElement("span"), { className: "bar-fill" }));
      const value = Object.assign(document.createElement("span"), { className: "bar-value" });
      row.append(name, track, value);
      return row;
    }));
  }
  const top = topEmotion(labels, scores);
  for (const row of container.children) {
    const value = scores[row.dataset.emotion] || 0;
    row.classList.toggle("top", row.dataset.emotion === top);
    row.dataset.value = value.toFixed(4);
    row.querySelector(".bar-fill").style.width = percent(value);
    row.querySelector(".bar-value").textContent = `${Math.round(100 * value)}%`;
  }
}
