// Webcam mode: camera frames go to WS /v1/emotions/stream; the overlay follows the tracked faces.
//
// Frames go over one WebSocket rather than repeated POSTs. Measured with
// tests/web/measure_latency.py (same 640x480 JPEG with one face, one frame in flight, loopback,
// 2 busy cores, 60 frames x 2 alternating rounds): median round trip POST 313 / 246 ms,
// WebSocket 299 / 231 ms. Detection and the model dominate; the socket saves ~15 ms of HTTP and
// multipart work per frame and, more importantly, keeps the face tracker (ids + smoothing) on
// the server for the life of the connection, which stateless POSTs cannot. One frame is in
// flight at a time, so a slow gateway lowers the frame rate instead of building a queue, and
// frames are paced to the server's max_fps.

import { STREAM_PATH, apiKey, readResult } from "./api.js";
import { $, clearMessage, hasMessage, renderBars, renderBoxes, showError, showMessage, showVersion } from "./ui.js";

// Frames are captured at most this wide: the detector and the model need far less than a
// camera's full resolution, and a smaller JPEG is cheaper to encode, send and decode.
const CAPTURE_WIDTH = 480;
const CAPTURE_QUALITY = 0.8;
const DEFAULT_MAX_FPS = 8;
const FPS_WINDOW_MS = 3000;

export const camera = {
  stream: null, socket: null, timer: null, running: false, inFlight: false,
  maxFps: DEFAULT_MAX_FPS, lastSent: 0, arrivals: [], selectedTrack: null,
  canvas: document.createElement("canvas"),

  async start() {
    clearMessage();
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      showMessage("This browser cannot use a camera here (a camera needs https or localhost).", "error", "no_camera");
      return;
    }
    try {
      this.stream = await navigator.mediaDevices.getUserMedia({
        video: { width: { ideal: 640 }, height: { ideal: 480 }, facingMode: "user" }, audio: false,
      });
    } catch (err) {
      const text = err.name === "NotAllowedError" ? "Camera access was refused." : `No camera available (${err.name}).`;
      showMessage(text, "error", "no_camera");
      return;
    }
    const video = $("cam-video");
    video.srcObject = this.stream;
    await video.play().catch(() => {});
    $("cam-stage").hidden = false;
    $("cam-placeholder").hidden = true;
    this.running = true;
    this.arrivals = [];
    this.setButton();
    this.connect();
  },

  connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}${STREAM_PATH}`);
    this.socket = socket;
    socket.onopen = () => {
      // The key goes in the first message rather than the URL, so it stays out of access logs.
      socket.send(JSON.stringify(apiKey() ? { api_key: apiKey() } : { hello: true }));
    };
    socket.onmessage = (event) => this.onMessage(JSON.parse(event.data));
    socket.onclose = (event) => {
      if (this.socket !== socket || !this.running) return;
      if (!hasMessage()) showMessage(`The stream closed (${event.reason || event.code}).`, "error", "closed");
      this.stop(false);
    };
  },

  onMessage(msg) {
    this.inFlight = false;
    if (msg.ready) {
      this.maxFps = msg.max_fps || DEFAULT_MAX_FPS;
      this.schedule();
      return;
    }
    if (msg.error && msg.error.code === "frame_rate_exceeded") {
      this.schedule(1000 / this.maxFps);  // our timers ran ahead of the server's cap: slow down
      return;
    }
    if (msg.error) {
      showError({ code: msg.error.code, message: msg.error.message, retryAfter: msg.error.retry_after });
      this.schedule(msg.error.code === "rate_limited" ? 1000 * (msg.error.retry_after || 1) : 0);
      return;
    }
    if (hasMessage()) clearMessage();
    this.measure(performance.now());
    this.show(readResult(msg));
    this.schedule();
  },

  measure(now) {
    $("cam-latency").textContent = String(Math.round(now - this.lastSent));
    this.arrivals.push(now);
    while (now - this.arrivals[0] > FPS_WINDOW_MS) this.arrivals.shift();
    if (this.arrivals.length > 1) {
      const fps = (this.arrivals.length - 1) / ((now - this.arrivals[0]) / 1000);
      $("cam-fps").textContent = fps.toFixed(1);
    }
  },

  show(result) {
    showVersion(result.version);
    $("cam-overlay").dataset.frame = String(result.frame);
    $("cam-faces").textContent = String(result.faces.length);
    // Follow the face the user clicked; otherwise the largest (the API lists faces largest first).
    const selected = Math.max(0, result.faces.findIndex((f) => f.trackId === this.selectedTrack));
    const face = result.faces[selected];
    renderBoxes($("cam-overlay"), result.faces, this.canvas.width, this.canvas.height, selected, (index, f) => {
      this.selectedTrack = f.trackId;
    });
    $("cam-face-name").textContent = face ? `· track ${face.trackId}` : "";
    renderBars($("cam-bars"), face && face.scores);
  },

  schedule(extraDelay = 0) {
    clearTimeout(this.timer);
    if (!this.running) return;
    const gap = Math.max(0, 1000 / this.maxFps - (performance.now() - this.lastSent));
    this.timer = setTimeout(() => this.sendFrame(), gap + extraDelay);
  },

  sendFrame() {
    const video = $("cam-video");
    const socket = this.socket;
    if (!this.running || this.inFlight || !socket || socket.readyState !== WebSocket.OPEN) return;
    if (!video.videoWidth) { this.schedule(100); return; }
    const scale = Math.min(1, CAPTURE_WIDTH / video.videoWidth);
    this.canvas.width = Math.round(video.videoWidth * scale);
    this.canvas.height = Math.round(video.videoHeight * scale);
    this.canvas.getContext("2d").drawImage(video, 0, 0, this.canvas.width, this.canvas.height);
    this.inFlight = true;
    this.canvas.toBlob((blob) => {
      if (!blob || !this.running || socket.readyState !== WebSocket.OPEN) { this.inFlight = false; return; }
      this.lastSent = performance.now();
      socket.send(blob);
    }, "image/jpeg", CAPTURE_QUALITY);
  },

  stop(clear = true) {
    this.running = false;
    clearTimeout(this.timer);
    if (this.socket) { const s = this.socket; this.socket = null; s.close(1000); }
    if (this.stream) this.stream.getTracks().forEach((t) => t.stop());
    this.stream = null;
    this.inFlight = false;
    $("cam-video").srcObject = null;
    $("cam-overlay").replaceChildren();
    $("cam-stage").hidden = true;
    $("cam-placeholder").hidden = false;
    $("cam-fps").textContent = "0.0";
    if (clear) renderBars($("cam-bars"), null);
    this.setButton();
  },

  setButton() {
    const button = $("cam-toggle");
    button.textContent = this.running ? "Stop camera" : "Start camera";
    button.classList.toggle("active", this.running);
  },
};

export function setupWebcam() {
  $("cam-toggle").addEventListener("click", () => (camera.running ? camera.stop() : camera.start()));
}
