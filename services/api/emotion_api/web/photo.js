// Photo mode: upload or drop an image, POST it, show the boxes and the selected face's scores.

import { ANALYZE_URL, UPLOAD_FIELD, apiKey, readError, readResult } from "./api.js";
import { $, clearMessage, renderBars, renderBoxes, showError, showMessage, showVersion } from "./ui.js";

const photo = { faces: [], width: 1, height: 1, url: null, answered: 0 };

function selectFace(index) {
  const face = photo.faces[index];
  $("photo-face-name").textContent = face ? `· face ${index + 1} of ${photo.faces.length}` : "";
  renderBoxes($("photo-overlay"), photo.faces, photo.width, photo.height, index, selectFace);
  renderBars($("photo-bars"), face && face.scores);
}

function reset(file) {
  clearMessage();
  if (photo.url) URL.revokeObjectURL(photo.url);
  photo.url = URL.createObjectURL(file);
  photo.faces = [];
  $("photo-overlay").replaceChildren();
  renderBars($("photo-bars"), null);
  $("photo-face-name").textContent = "";
  $("photo-status").textContent = `Analysing ${file.name}…`;
}

async function post(file) {
  const form = new FormData();
  form.append(UPLOAD_FIELD, file, file.name);
  const headers = apiKey() ? { "X-API-Key": apiKey() } : {};
  return fetch(ANALYZE_URL, { method: "POST", body: form, headers });
}

async function analyzeOnce(file) {
  reset(file);
  const started = performance.now();
  let response;
  try {
    response = await post(file);
  } catch (err) {
    $("photo-status").textContent = "";
    showMessage("The gateway could not be reached. Is it running?", "error", "unreachable");
    return;
  }
  const elapsed = Math.round(performance.now() - started);
  if (!response.ok) {
    $("photo-status").textContent = "";
    $("photo-stage").hidden = true;
    showError(await readError(response));
    return;
  }
  const result = readResult(await response.json());
  showVersion(result.version);
  const img = $("photo");
  img.src = photo.url;
  await img.decode().catch(() => {});
  // Boxes are in pixels of the decoded, EXIF-rotated image, which is what <img> shows too.
  photo.width = (result.image && result.image.width) || img.naturalWidth || 1;
  photo.height = (result.image && result.image.height) || img.naturalHeight || 1;
  $("photo-stage").hidden = false;
  $("dropzone").classList.add("compact");
  photo.faces = result.faces;
  const n = result.faces.length;
  $("photo-status").textContent = `${n} face${n === 1 ? "" : "s"} · ${elapsed} ms`;
  if (n === 0) {
    showMessage("No face was found in this photo. Try a well-lit photo with a face looking at the camera.",
      "info", "no_faces");
  }
  selectFace(0);
}

async function analyze(file) {
  try {
    await analyzeOnce(file);
  } finally {
    // Lets a test (or devtools) tell one answered upload from the next.
    $("photo-status").dataset.answered = String(++photo.answered);
  }
}

export function setupPhoto() {
  const input = $("file-input");
  input.addEventListener("change", () => {
    if (input.files.length) analyze(input.files[0]);
    input.value = "";
  });
  const dropzone = $("dropzone");
  for (const type of ["dragenter", "dragover"]) {
    dropzone.addEventListener(type, (event) => { event.preventDefault(); dropzone.classList.add("dragging"); });
  }
  for (const type of ["dragleave", "drop"]) {
    dropzone.addEventListener(type, () => dropzone.classList.remove("dragging"));
  }
  dropzone.addEventListener("drop", (event) => {
    event.preventDefault();
    const file = event.dataTransfer.files[0];
    if (file) analyze(file);
  });
  // Dropping a file anywhere else would make the browser navigate away from the page.
  window.addEventListener("dragover", (event) => event.preventDefault());
  window.addEventListener("drop", (event) => event.preventDefault());
}
