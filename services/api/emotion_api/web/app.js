// The page talks only to the gateway that served it: GET /v1/models for the label names,
// POST /v1/emotions for photos and the WebSocket /v1/emotions/stream for the webcam. No framework
// and no external assets.

import { bindApiKey, loadLabelNames } from "./api.js";
import { setupPhoto } from "./photo.js";
import { $, clearMessage } from "./ui.js";
import { camera, setupWebcam } from "./webcam.js";

function selectTab(name) {
  for (const tab of ["photo", "webcam"]) {
    const on = tab === name;
    $(`tab-${tab}`).setAttribute("aria-selected", String(on));
    $(`panel-${tab}`).hidden = !on;
  }
  if (name !== "webcam" && camera.running) camera.stop();
  clearMessage();
}

bindApiKey($("api-key"));
loadLabelNames();
$("tab-photo").addEventListener("click", () => selectTab("photo"));
$("tab-webcam").addEventListener("click", () => selectTab("webcam"));
setupPhoto();
setupWebcam();
