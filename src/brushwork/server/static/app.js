// Brushwork web page: choose a photo and a style, start a job, show its preview, then the
// painting in a before/after slider with a download link; train a style on a painting; paint
// a clip. Talks only to this server's /v1 API.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { photo: null, photoUrl: null, style: null, limits: null, busy: false, job: null };
const SIZES = [512, 768, 1024, 1536, 2048, 3072, 4096];
const POLL_MS = 250;

async function api(url, options) {
  const response = await fetch(url, options);
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try {
      const body = await response.json();
      if (body && body.detail) message = body.detail;
    } catch (_) { /* not JSON: keep the status line */ }
    throw new Error(message);
  }
  return response.json();
}

function showMessage(boxId, message) {
  const box = $(boxId);
  box.textContent = message || "";
  box.hidden = !message;
}

function showError(message) {
  showMessage("error", message);
}

// ------------------------------------------------------------------------- server jobs
// A training and a clip are jobs of the server: a file chosen, a job started, polled until
// it ends with its progress shown (PREFIX-box, -bar, -progress, -text), and a cancel.

function onFileChosen(chooseId, inputId, take) {
  $(inputId).addEventListener("change", (e) => take(e.target.files[0]));
  $(chooseId).addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") { e.preventDefault(); $(inputId).click(); }
  });
}

function takeFile(job, file, labelId) {
  job.file = file;
  $(labelId).textContent = `${file.name} · ${(file.size / 1048576).toFixed(1)} MB`;
}

function showProgress(prefix, progress, text) {
  $(`${prefix}-box`).hidden = false;
  const percent = Math.round(progress * 100);
  $(`${prefix}-bar`).style.width = `${percent}%`;
  $(`${prefix}-progress`).setAttribute("aria-valuenow", String(percent));
  $(`${prefix}-text`).textContent = text;
}

// Poll PATH/ID every pollMs, showing each state, until the job has ended; returns its last.
async function pollJob(status, path, pollMs, show) {
  while (status.state === "queued" || status.state === "running") {
    show(status);
    await new Promise((resolve) => setTimeout(resolve, pollMs));
    status = await api(`${path}/${status.id}`);
  }
  show(status);
  return status;
}

async function cancelJob(job, path, cancelId, showJobError) {
  if (!job.id) return;
  job.cancelling = true;
  $(cancelId).disabled = true;
  try {
    await api(`${path}/${job.id}`, { method: "DELETE" });
  } catch (error) {
    job.cancelling = false;
    $(cancelId).disabled = false;
    showJobError(`Cancel: ${error.message}`);
  }
}

function updatePaintButton() {
  $("paint").disabled = state.busy || !state.photo || !state.style;
}

// ----------------------------------------------------------------------------- styles

function styleMeta(style) {
  if (style.kind === "upload") return "your model";
  if (style.kind === "file") return "model file";
  return [style.artist, style.year].filter(Boolean).join(", ");
}

function addStyleCard(style, select) {
  const grid = $("styles");
  let card = grid.querySelector(`[data-style="${CSS.escape(style.id)}"]`);
  if (!card) {
    card = document.createElement("button");
    card.type = "button";
    card.className = "style-card";
    card.setAttribute("role", "radio");
    card.dataset.style = style.id;
    const img = document.createElement("img");
    img.alt = "";
    img.loading = "lazy";
    img.src = style.thumbnail;
    const title = document.createElement("span");
    title.className = "title";
    title.textContent = style.title || style.id;
    const meta = document.createElement("span");
    meta.className = "meta";
    meta.textContent = styleMeta(style);
    card.append(img, title, meta);
    card.title = [style.title, style.artist, style.year, style.license].filter(Boolean).join(" · ");
    card.addEventListener("click", () => selectStyle(style.id));
    grid.append(card);
  }
  $("no-styles").hidden = true;
  const mix = $("mix-style");
  if (!mix.querySelector(`option[value="${CSS.escape(style.id)}"]`)) {
    const option = document.createElement("option");
    option.value = style.id;
    option.textContent = style.title || style.id;
    mix.append(option);
  }
  if (select) selectStyle(style.id);
}

// A mix (brushwork.mixing): "first:share,second:share", the ids the server offers.
function styleRequest() {
  const other = $("mix-style").value;
  if (!other || other === state.style) return state.style;
  const share = Number($("mix-share").value) / 100;
  return `${state.style}:${(1 - share).toFixed(2)},${other}:${share.toFixed(2)}`;
}

function updateMix() {
  const mixing = Boolean($("mix-style").value);
  $("mix-share-label").hidden = !mixing;
  $("mix-share-value").textContent = `${$("mix-share").value}%`;
}

function selectStyle(id) {
  state.style = id;
  for (const card of $("styles").querySelectorAll(".style-card")) {
    card.setAttribute("aria-checked", String(card.dataset.style === id));
  }
  updatePaintButton();
}

async function loadStyles() {
  const { styles, default: preferred } = await api("/v1/styles");
  $("no-styles").hidden = styles.length > 0;
  for (const style of styles) addStyleCard(style, false);
  if (preferred) selectStyle(preferred);
}

async function uploadModel(file) {
  showError("");
  const label = document.querySelector(".upload-model");
  const text = $("model-label");
  label.classList.add("busy");
  text.textContent = `Uploading ${file.name}…`;
  try {
    const form = new FormData();
    form.append("file", file, file.name);
    const style = await api("/v1/models", { method: "POST", body: form });
    addStyleCard(style, true);
  } catch (error) {
    showError(`Model upload failed: ${error.message}`);
  } finally {
    label.classList.remove("busy");
    text.textContent = "Upload a model file…";
    $("model-input").value = "";
  }
}

// ------------------------------------------------------------------------------ photo

function setAspect(width, height) {
  if (width > 0 && height > 0) $("compare").style.setProperty("--ratio", String(width / height));
}

function choosePhoto(file) {
  if (!file) return;
  showError("");
  state.photo = file;
  if (state.photoUrl) URL.revokeObjectURL(state.photoUrl);
  state.photoUrl = URL.createObjectURL(file);
  const thumb = $("photo-thumb");
  thumb.onload = () => setAspect(thumb.naturalWidth, thumb.naturalHeight);
  thumb.onerror = () => { thumb.hidden = true; };  // HEIC: browsers cannot show it; the server can
  thumb.src = state.photoUrl;
  thumb.hidden = false;
  $("drop-text").innerHTML = "<strong>Change photo</strong><br><small>drop or click</small>";
  $("photo-name").textContent = `${file.name} · ${(file.size / 1048576).toFixed(1)} MB`;
  updatePaintButton();
}

function wireDrop() {
  const drop = $("drop");
  onFileChosen("drop", "photo-input", choosePhoto);
  for (const name of ["dragenter", "dragover"]) {
    document.addEventListener(name, (e) => { e.preventDefault(); drop.classList.add("over"); });
  }
  for (const name of ["dragleave", "drop"]) {
    document.addEventListener(name, () => drop.classList.remove("over"));
  }
  document.addEventListener("drop", (e) => {
    e.preventDefault();
    const file = e.dataTransfer && e.dataTransfer.files[0];
    if (!file) return;
    if (file.name.toLowerCase().endsWith(".safetensors")) uploadModel(file);
    else if (file.type.startsWith("video/") && !$("video").hidden) chooseClip(file);
    else choosePhoto(file);
  });
}

// ---------------------------------------------------------------------------- compare

function setSlider(percent) {
  $("after-clip").style.clipPath = `inset(0 0 0 ${percent}%)`;
  $("divider").style.left = `${percent}%`;
}

function showCompare({ before, after, preview }) {
  const compare = $("compare");
  compare.classList.remove("empty");
  compare.classList.toggle("preview", Boolean(preview));
  $("placeholder").hidden = true;
  if (before) { $("before").src = before; $("before").hidden = false; }
  $("after").src = after;
  $("after").hidden = false;
  const both = Boolean(before);
  for (const id of ["divider", "slider", "label-before"]) $(id).hidden = !both;
  $("label-after").hidden = false;
  $("label-after").textContent = preview ? "Preview" : "Painting";
  setSlider(both ? Number($("slider").value) : 0);
}

// ------------------------------------------------------------------------------- jobs

function progressText(job) {
  switch (job.stage) {
    case "queued":
      return job.position ? `Waiting: ${job.position} photo(s) ahead…` : "Starting…";
    case "loading": return "Loading the style…";
    case "preview": return "Painting a quick preview…";
    case "painting":
      return job.levels_total
        ? `Painting at ${job.size} px: level ${Math.min(job.levels_done + 1, job.levels_total)} of ${job.levels_total}…`
        : `Painting at ${job.size} px…`;
    case "encoding": return "Saving the image…";
    case "done": return `Done in ${(job.seconds || 0).toFixed(2)} s`;
    default: return job.error || job.stage;
  }
}

function setProgress(fraction, text) {
  $("progress-box").hidden = false;
  $("progress-bar").style.width = `${Math.round(fraction * 100)}%`;
  $("progress-text").textContent = text;
}

async function paint() {
  showError("");
  state.busy = true;
  updatePaintButton();
  $("download").hidden = true;
  $("result-info").textContent = "";
  setProgress(0, "Uploading…");
  if (window.matchMedia("(max-width: 820px)").matches) {  // one column: the result is below
    document.querySelector(".result").scrollIntoView({ behavior: "smooth", block: "start" });
  }
  const form = new FormData();
  form.append("file", state.photo, state.photo.name);
  form.append("style", styleRequest());
  form.append("size", $("size").value);
  form.append("format", $("format").value);
  form.append("strength", String(Number($("strength").value) / 100));
  form.append("preserve_color", String($("preserve-color").checked));
  try {
    let job = await api("/v1/jobs", { method: "POST", body: form });
    state.job = job.id;
    let shownPreview = false;
    while (job.state === "queued" || job.state === "running") {
      setProgress(job.progress, progressText(job));
      if (job.preview && !shownPreview) {
        shownPreview = true;
        showCompare({ before: null, after: job.preview, preview: true });
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      job = await api(`/v1/jobs/${job.id}`);
    }
    if (job.state === "error") throw new Error(job.error || "the job failed");
    setProgress(1, progressText(job));
    setAspect(job.width, job.height);
    await preload(job.result);
    $("progress-box").hidden = true;  // the line under the picture says the rest
    showCompare({ before: job.original, after: job.result, preview: false });
    const link = $("download");
    link.href = `${job.result}?download=true`;
    link.download = job.filename;
    link.hidden = false;
    $("result-info").textContent =
      `${job.width} × ${job.height} px · ${job.style} · ${(job.seconds || 0).toFixed(2)} s on ${job.device}`;
  } catch (error) {
    setProgress(0, "");
    $("progress-box").hidden = true;
    showError(error.message);
  } finally {
    state.busy = false;
    updatePaintButton();
  }
}

function preload(url) {
  return new Promise((resolve) => {
    const img = new Image();
    img.onload = img.onerror = () => resolve();
    img.src = url;
  });
}

// ---------------------------------------------------------------- your own painting
// POST /v1/trainings, then poll: progress, time left and the latest preview; when it has
// finished the new style is added to the list and chosen, with its model file to download.

const TRAIN_POLL_MS = 500;
const training = { file: null, id: null, cancelling: false };

function showTrainError(message) {
  showMessage("train-error", message);
}

function updateTrainButton() {
  $("train").disabled = !training.file || Boolean(training.id);
}

function duration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  const minutes = Math.floor(s / 60);
  return minutes ? `${minutes} min ${String(s % 60).padStart(2, "0")} s` : `${s} s`;
}

function trainingText(t) {
  switch (t.stage) {
    case "queued": return "Starting…";
    case "preparing": return "Choosing a starting style and the texture weights…";
    case "training": {
      let text = `Iteration ${t.iteration} of ${t.iterations}`;
      if (t.seconds_left !== null) text += ` · about ${duration(t.seconds_left)} left`;
      return training.cancelling ? `${text} · cancelling…` : text;
    }
    case "report": return "Trained; painting the quality report…";
    case "adding": return "Adding the new style…";
    case "finished":
      return `Your style “${t.painting}” is ready (${t.iteration} iterations, ` +
        `${duration(t.elapsed_seconds)}) and chosen above.`;
    case "cancelled": return `Cancelled at iteration ${t.iteration}: no model was kept.`;
    default: return t.error || t.stage;
  }
}

function showTraining(t) {
  showProgress("train", t.progress, trainingText(t));
  const preview = $("train-preview");
  if (t.preview && preview.dataset.iteration !== String(t.preview_iteration)) {
    preview.dataset.iteration = String(t.preview_iteration);
    preview.src = `${t.preview}?iteration=${t.preview_iteration}`;  // a new one each time
    preview.hidden = false;
  }
}

function showReport(report) {
  const scores = $("train-scores");
  scores.hidden = !report;
  $("train-report").hidden = !report;
  if (!report) return;
  const means = Object.entries(report.model).map(([k, v]) => `${k} ${Number(v).toPrecision(3)}`);
  scores.textContent = `Quality report on ${report.photos.length} held-back photos at ` +
    `${report.size} px (lower is better, but structure): ${means.join(" · ")}` +
    (report.streaks ? " · streaks found" : "") +
    (report.meets_bar === undefined ? "" : ` · meets the peer's bar: ${report.meets_bar ? "yes" : "no"}`);
  $("train-report").href = report.sheet;
}

async function followTraining(t) {
  training.id = t.id;
  training.cancelling = false;
  updateTrainButton();
  $("train-links").hidden = true;
  $("train-preview").hidden = true;
  delete $("train-preview").dataset.iteration;
  showReport(null);
  $("train-cancel").hidden = false;
  $("train-cancel").disabled = false;
  try {
    t = await pollJob(t, "/v1/trainings", TRAIN_POLL_MS, showTraining);
    if (t.state === "failed") throw new Error(t.error || "the training failed");
    if (t.state === "finished") {
      const { styles } = await api("/v1/styles");
      const style = styles.find((s) => s.id === t.style);
      if (style) addStyleCard(style, true);
      $("train-model").href = t.model;
      $("train-model").download = t.model_filename;
      $("train-links").hidden = false;
      showReport(t.report);
    }
  } finally {
    $("train-cancel").hidden = true;
    training.id = null;
    updateTrainButton();
  }
}

async function startTraining() {
  showTrainError("");
  $("train").disabled = true;
  const form = new FormData();
  form.append("file", training.file, training.file.name);
  try {
    await followTraining(await api("/v1/trainings", { method: "POST", body: form }));
  } catch (error) {
    showTrainError(`Training: ${error.message}`);
  } finally {
    updateTrainButton();
  }
}

function chooseTrainingPainting(file) {
  if (!file) return;
  showTrainError("");
  takeFile(training, file, "painting-label");
  updateTrainButton();
}

function wireTraining(health) {
  const settings = health.training || {};
  $("own").hidden = settings.available === false;
  onFileChosen("painting-choose", "painting-input", chooseTrainingPainting);
  $("train").addEventListener("click", startTraining);
  $("train-cancel").addEventListener("click",
    () => cancelJob(training, "/v1/trainings", "train-cancel", showTrainError));
  if (settings.active) {  // a reload while a style trains: follow it again
    api(`/v1/trainings/${settings.active}`).then(followTraining)
      .catch((error) => showTrainError(`Training: ${error.message}`));
  }
}

// ------------------------------------------------------------------------------ clips
// POST /v1/videos with the style and options above, then poll: frames done, frames per
// second and time left, a cancel; when it has finished the painted clip plays here.

const VIDEO_POLL_MS = 500;
const VIDEO_SIZES = [360, 480, 720, 1080, 1440, 1920];
const clip = { file: null, id: null, cancelling: false };

function showVideoError(message) {
  showMessage("video-error", message);
}

function updateVideoButton() {
  $("video-paint").disabled = !clip.file || Boolean(clip.id);
}

function videoText(v) {
  switch (v.stage) {
    case "queued": return "Starting…";
    case "loading": return "Loading the style…";
    case "painting": {
      let text = v.frames_total ? `Frame ${v.frames_done} of ${v.frames_total}`
        : `Frame ${v.frames_done}`;
      if (v.fps) text += ` · ${v.fps.toFixed(1)} frames/s`;
      if (v.seconds_left !== null) text += ` · about ${duration(v.seconds_left)} left`;
      return clip.cancelling ? `${text} · cancelling…` : text;
    }
    case "finished":
      return `Painted ${v.frames_done} frames at ${v.width} × ${v.height} px in ` +
        `${duration(v.elapsed_seconds)} on ${v.device}.`;
    case "cancelled": return `Cancelled after ${v.frames_done} frames: nothing was kept.`;
    default: return v.error || v.stage;
  }
}

function showVideo(v) {
  showProgress("video", v.progress, videoText(v));
}

async function followVideo(v) {
  clip.id = v.id;
  clip.cancelling = false;
  updateVideoButton();
  const player = $("video-result");
  player.hidden = true;
  player.removeAttribute("src");
  $("video-links").hidden = true;
  $("video-cancel").hidden = false;
  $("video-cancel").disabled = false;
  try {
    v = await pollJob(v, "/v1/videos", VIDEO_POLL_MS, showVideo);
    if (v.state === "failed") throw new Error(v.error || "painting the clip failed");
    if (v.state === "finished") {
      player.src = v.result;
      player.hidden = false;
      $("video-download").href = `${v.result}?download=true`;
      $("video-download").download = v.filename;
      $("video-links").hidden = false;
    }
  } finally {
    $("video-cancel").hidden = true;
    clip.id = null;
    updateVideoButton();
  }
}

async function startVideo() {
  showVideoError("");
  $("video-paint").disabled = true;
  const form = new FormData();
  form.append("file", clip.file, clip.file.name);
  if (state.style) form.append("style", styleRequest());
  form.append("size", $("video-size").value);
  form.append("strength", String(Number($("strength").value) / 100));
  form.append("preserve_color", String($("preserve-color").checked));
  form.append("steady", String($("video-steady").checked));
  try {
    $("video-box").hidden = false;
    $("video-text").textContent = "Uploading…";
    await followVideo(await api("/v1/videos", { method: "POST", body: form }));
  } catch (error) {
    showVideoError(`Clip: ${error.message}`);
  } finally {
    updateVideoButton();
  }
}

function chooseClip(file) {
  if (!file) return;
  showVideoError("");
  takeFile(clip, file, "clip-label");
  updateVideoButton();
}

function wireVideo(health) {
  const settings = health.video || {};
  $("video").hidden = !settings.available;
  if (!settings.available) return;
  const limits = settings.limits;
  const select = $("video-size");
  for (const size of VIDEO_SIZES.filter((s) => s <= limits.max_size)) {
    select.append(new Option(`${size} px`, String(size), false, size === 720));
  }
  if (!select.options.length) select.append(new Option(`${limits.max_size} px`, String(limits.max_size)));
  $("video-limits").textContent = `Up to ${limits.max_seconds} s and ` +
    `${Math.round(limits.max_upload_bytes / 1048576)} MB.`;
  onFileChosen("clip-choose", "clip-input", chooseClip);
  $("video-paint").addEventListener("click", startVideo);
  $("video-cancel").addEventListener("click",
    () => cancelJob(clip, "/v1/videos", "video-cancel", showVideoError));
  if (settings.active) {  // a reload while a clip is painted: follow it again
    api(`/v1/videos/${settings.active}`).then(followVideo)
      .catch((error) => showVideoError(`Clip: ${error.message}`));
  }
}

// ------------------------------------------------------------------------------- init

async function init() {
  wireDrop();
  $("model-input").addEventListener("change", (e) => e.target.files[0] && uploadModel(e.target.files[0]));
  $("strength").addEventListener("input", (e) => { $("strength-value").textContent = `${e.target.value}%`; });
  $("slider").addEventListener("input", (e) => setSlider(Number(e.target.value)));
  $("mix-style").addEventListener("change", updateMix);
  $("mix-share").addEventListener("input", updateMix);
  $("paint").addEventListener("click", paint);
  try {
    const health = await api("/v1/health");
    state.limits = health.limits;
    const select = $("size");
    for (const size of SIZES.filter((s) => s <= health.limits.max_size)) {
      const option = new Option(`${size} px`, String(size), false, size === 1024);
      select.append(option);
    }
    if (!select.options.length) select.append(new Option(`${health.limits.max_size} px`, String(health.limits.max_size)));
    await loadStyles();
    wireTraining(health);
    wireVideo(health);
  } catch (error) {
    showError(`Cannot reach the Brushwork server: ${error.message}`);
  }
  document.body.dataset.ready = "true";
}

init();
