// Sortographer's web app: a few views over the JSON API, routed by the URL path.
// Text from the server is only ever set with textContent, never parsed as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const views = ["auth-view", "gallery-view", "labels-view", "image-view", "notfound-view"];
let me = null;          // the signed-in user, or null
let pollTimer = null;   // refreshes a view while photos wait for labels
let nextCursor = null;  // the gallery's next page

async function api(path, opts = {}) {
  const res = await fetch(path, { credentials: "same-origin", ...opts });
  if (res.status === 204) return null;
  const body = await res.json().catch(() => ({}));
  if (!res.ok) {
    const err = new Error((body.error && body.error.message) || res.statusText);
    err.status = res.status;
    throw err;
  }
  return body;
}

function toast(msg) {
  const t = $("toast");
  t.textContent = msg;
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.hidden = true; }, 4000);
}

function show(view) {
  for (const v of views) $(v).hidden = v !== view;
  $("nav").hidden = !me;
  $("nav-admin").hidden = !(me && me.isAdmin);
  $("search-form").hidden = !me;
}

function go(path) {
  history.pushState(null, "", path);
  route();
}

function el(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  Object.assign(e, props);
  for (const c of children) e.append(c);
  return e;
}

function labelLink(name, text) {
  const a = el("a", { href: "/labels/" + encodeURIComponent(name), textContent: text || name });
  a.dataset.link = "";
  return a;
}

// downloadName is the file name a downloaded original is saved as: the image id and an
// extension from its type ("image/heic" → .heic, "image/x-adobe-dng" → .dng).
function downloadName(img) {
  return img.id + "." + img.contentType.split("/").pop().split("-").pop();
}

// showDisplay shows an image's display version (the original, or a JPEG of it where
// browsers cannot show the original: HEIC, TIFF, RAW), and the thumbnail should the
// server fail to make it. A view refreshing the same image leaves it as it is.
function showDisplay(imgEl, img) {
  if (imgEl.dataset.id === img.id) return;
  imgEl.dataset.id = img.id;
  imgEl.onerror = () => { imgEl.onerror = null; imgEl.src = img.thumbnailUrl; };
  imgEl.src = img.displayUrl;
}

function statusBadge(img) {
  return el("span", { className: "status " + img.status, textContent: img.status });
}

async function route() {
  clearTimeout(pollTimer);
  const path = location.pathname;
  let m;
  // A share link opens for anyone, signed in or not (albums.js).
  if ((m = path.match(/^\/s\/([A-Za-z0-9_-]+)$/))) {
    sharedView(m[1]);
    return;
  }
  if (me === null) {
    try { me = await api("/api/me"); } catch (e) { me = null; }
  }
  if (!me) {
    authView(path === "/signup" ? "signup" : "signin");
    return;
  }
  if (path === "/" || path === "/signin" || path === "/signup" || path === "/upload") {
    galleryView(null);
  } else if (path === "/labels") {
    labelsView();
  } else if ((m = path.match(/^\/labels\/([^/]+)$/))) {
    const names = decodeURIComponent(m[1]).split(",").map((s) => s.trim()).filter(Boolean);
    galleryView(names);
  } else if ((m = path.match(/^\/images\/([A-Za-z0-9_-]+)$/))) {
    imageView(m[1]);
  } else if (path === "/albums") {
    albumsView();
  } else if ((m = path.match(/^\/albums\/([A-Za-z0-9_-]+)$/))) {
    albumView(m[1]);
  } else if (path === "/shares") {
    sharesView();
  } else if (path === "/admin") {
    adminView();
  } else {
    show("notfound-view");
  }
}

function authView(mode) {
  const up = mode === "signup";
  $("auth-title").textContent = up ? "Create an account" : "Sign in";
  $("auth-submit").textContent = up ? "Sign up" : "Sign in";
  $("auth-switch").textContent = up ? "Have an account? Sign in" : "No account? Sign up";
  $("auth-switch").href = up ? "/signin" : "/signup";
  $("password").autocomplete = up ? "new-password" : "current-password";
  $("auth-form").dataset.mode = mode;
  show("auth-view");
}

async function submitAuth(ev) {
  ev.preventDefault();
  const mode = $("auth-form").dataset.mode;
  try {
    const s = await api("/api/auth/" + mode, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ email: $("email").value, password: $("password").value, remember: $("remember").checked }),
    });
    me = s.user;
    $("password").value = "";
    go("/");
  } catch (e) {
    toast(e.message);
  }
}

function card(img) {
  const li = el("li", { className: "card" });
  li.dataset.id = img.id;
  li.dataset.status = img.status;
  const a = el("a", { className: "thumb", href: "/images/" + img.id });
  a.dataset.link = "";
  a.append(el("img", { src: img.thumbnailUrl, alt: img.labels.filter((l) => !l.derivedFrom).map((l) => l.name).join(", ") || "photo", loading: "lazy" }));
  const info = el("div", { className: "info" }, statusBadge(img));
  if (img.status === "queued" && img.queuePosition !== null && img.queuePosition !== undefined) {
    info.append(" ", el("span", { className: "muted", textContent: "#" + (img.queuePosition + 1) + " in queue" }));
  }
  const labels = el("ul", { className: "labels" });
  for (const l of img.labels.filter((l) => !l.derivedFrom).slice(0, 4)) labels.append(el("li", {}, labelLink(l.name)));
  info.append(labels);
  li.append(a, info);
  return li;
}

async function galleryView(labels, append = false) {
  show("gallery-view");
  $("gallery-title").textContent = labels ? "Labelled " + labels.join(" + ") : "Your photos";
  $("search-input").value = labels ? labels.join(", ") : "";
  let url = labels
    ? "/api/search?" + labels.map((l) => "label=" + encodeURIComponent(l)).join("&")
    : "/api/images?limit=60";
  if (append && nextCursor) url += (url.includes("?") ? "&" : "?") + "cursor=" + encodeURIComponent(nextCursor);
  let page;
  try {
    page = await api(url);
  } catch (e) {
    if (e.status === 401) { me = null; route(); return; }
    toast(e.message);
    return;
  }
  const grid = $("grid");
  if (!append) grid.replaceChildren();
  for (const img of page.images) grid.append(card(img));
  nextCursor = page.next;
  $("more").hidden = !page.next;
  $("more").onclick = () => galleryView(labels, true);
  $("empty").hidden = grid.children.length > 0;
  $("empty").textContent = labels ? "No photos with these labels." : "No photos yet.";
  // While photos wait for labels, refresh the first page now and then.
  if (!append && page.images.some((i) => i.status === "queued")) {
    pollTimer = setTimeout(() => galleryView(labels), 3000);
  }
}

async function upload(files) {
  const photos = Array.from(files);
  if (!photos.length) return;
  const form = new FormData();
  for (const f of photos) form.append("file", f, f.name);
  toast("Uploading " + photos.length + " photo" + (photos.length > 1 ? "s" : "") + "…");
  try {
    const res = await api("/api/images", { method: "POST", body: form });
    toast(uploadedMessage(res.images));
    if (location.pathname !== "/") history.pushState(null, "", "/");
    galleryView(null);
  } catch (e) {
    toast("Upload refused: " + e.message);
  }
}

async function labelsView() {
  show("labels-view");
  const list = $("label-list");
  list.replaceChildren();
  try {
    const res = await api("/api/labels");
    for (const l of res.labels) list.append(el("li", {}, labelLink(l.name, l.name + " (" + l.images + ")")));
    $("labels-empty").hidden = res.labels.length > 0;
  } catch (e) {
    toast(e.message);
  }
}

async function imageView(id) {
  let img;
  try {
    img = await api("/api/images/" + encodeURIComponent(id));
  } catch (e) {
    if (e.status === 401) { me = null; route(); return; }
    show("notfound-view");
    return;
  }
  show("image-view");
  showDisplay($("image-full"), img);
  $("image-full").alt = img.labels.filter((l) => !l.derivedFrom).map((l) => l.name).join(", ") || "photo";
  $("image-original").href = img.originalUrl;
  $("image-original").download = downloadName(img);
  $("image-status").className = "status " + img.status;
  $("image-status").textContent = img.status;
  $("image-queue").textContent = img.status === "queued" && img.queuePosition != null ? "(#" + (img.queuePosition + 1) + " in queue)" :
    img.status === "failed" ? "(" + img.failureReason + ")" : "";
  const meta = [img.width + "×" + img.height, Math.round(img.sizeBytes / 1024) + " KB"];
  if (img.takenAt) meta.push("taken " + new Date(img.takenAt).toLocaleString());
  meta.push("uploaded " + new Date(img.createdAt).toLocaleString());
  $("image-meta").textContent = meta.join(" · ");
  const labels = $("image-labels");
  labels.replaceChildren();
  // What the classifier saw, then the broader words each one brings (a search for them
  // finds this photo too).
  for (const l of img.labels.filter((l) => !l.derivedFrom)) labels.append(el("li", {}, labelLink(l.name, l.name + " " + Math.round(l.confidence) + "%")));
  for (const l of img.labels.filter((l) => l.derivedFrom)) {
    labels.append(el("li", { className: "derived", title: "a broader word for " + l.derivedFrom }, labelLink(l.name, l.name + " (from " + l.derivedFrom + ")")));
  }
  $("image-delete").onclick = async () => {
    if (!confirm("Delete this photo?")) return;
    try {
      await api("/api/images/" + encodeURIComponent(id), { method: "DELETE" });
      go("/");
    } catch (e) {
      toast(e.message);
    }
  };
  imageAlbumControls(img);
  reclassifyControls(img);
  if (img.status === "queued") pollTimer = setTimeout(() => imageView(id), 3000);
}

document.addEventListener("DOMContentLoaded", () => {
  $("auth-form").addEventListener("submit", submitAuth);
  $("upload-input").addEventListener("change", (ev) => { upload(ev.target.files); ev.target.value = ""; });
  $("signout").addEventListener("click", async () => {
    await api("/api/auth/signout", { method: "POST" }).catch(() => {});
    me = null;
    go("/signin");
  });
  $("search-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const names = $("search-input").value.split(",").map((s) => s.trim().toLowerCase()).filter(Boolean);
    go(names.length ? "/labels/" + encodeURIComponent(names.join(",")) : "/");
  });
  const drop = $("drop");
  drop.addEventListener("dragover", (ev) => { ev.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (ev) => { ev.preventDefault(); drop.classList.remove("over"); upload(ev.dataTransfer.files); });
  // Links marked data-link route in the page instead of reloading it.
  document.addEventListener("click", (ev) => {
    const a = ev.target.closest("a[data-link]");
    if (!a || ev.metaKey || ev.ctrlKey || ev.shiftKey || a.target) return;
    ev.preventDefault();
    go(a.getAttribute("href"));
  });
  window.addEventListener("popstate", route);
  route();
});
