// Sortographer's web app: a few views over the JSON API, routed by the URL path.
// Text from the server is only ever set with textContent, never parsed as HTML; the
// app's own text comes from the catalogues through t() (i18n.js).
"use strict";

const $ = (id) => document.getElementById(id);
const views = ["auth-view", "gallery-view", "labels-view", "image-view", "notfound-view"];
let me = null;          // the signed-in user, or null
let pollTimer = null;   // refreshes a view while photos wait for labels
let nextCursor = null;  // the gallery's next page

// api calls the JSON API. A failure throws an Error with the API's English message,
// its stable code and request id (errorText shows it in the user's language).
async function api(path, opts = {}) {
  let res;
  try {
    res = await fetch(path, { credentials: "same-origin", ...opts });
  } catch (e) {
    e.code = "network";
    throw e;
  }
  if (res.status === 204) return null;
  const body = await res.json().catch(() => ({}));
  if (!res.ok) {
    const err = new Error((body.error && body.error.message) || res.statusText);
    err.status = res.status;
    err.code = body.error && body.error.code;
    err.requestId = body.error && body.error.requestId;
    throw err;
  }
  return body;
}

// errorMessages are the API's error codes (internal/api writeError) the UI says in
// the user's language; for any other code it shows the API's English message.
const errorMessages = {
  network: () => t("error.network"),
  bad_credentials: () => t("error.badCredentials"),
  bad_email: () => t("error.badEmail"),
  wrong_password: () => t("error.wrongPassword"),
  no_password: () => t("error.noPassword"),
  local_passwords_off: () => t("error.localPasswordsOff"),
  password_too_short: () => t("error.passwordTooShort"),
  password_too_long: () => t("error.passwordTooLong"),
  password_common: () => t("error.passwordCommon"),
  signup_closed: () => t("error.signupClosed"),
  // Not the API's: a sign-up whose sign-in failed (submitAuth).
  signup_not_signed_in: () => t("error.signUpNotSignedIn"),
  rate_limited: () => t("error.rateLimited"),
  unauthorized: () => t("error.unauthorized"),
  forbidden: () => t("error.forbidden"),
  not_found: () => t("error.notFound"),
  unavailable: () => t("error.unavailable"),
  busy: () => t("error.busy"),
  internal: (e) => t("error.internal", { requestId: e.requestId || "-" }),
  sharing_disabled: () => t("error.sharingDisabled"),
  still_queued: () => t("error.stillQueued"),
  bad_name: () => t("error.badName"),
  bad_labels: () => t("error.badLabels"),
  no_files: () => t("error.noFiles"),
  too_many_files: () => t("error.tooManyFiles"),
  too_large: () => t("error.tooLarge"),
  too_large_to_decode: () => t("error.tooLargeToDecode"),
  too_many_pixels: () => t("error.tooManyPixels"),
  unsupported_type: () => t("error.unsupportedType"),
  bad_image: () => t("error.badImage"),
  no_preview: () => t("error.noPreview"),
  bad_upload: () => t("error.badUpload"),
  quota_exceeded: () => t("error.quotaExceeded"),
  larger_than_quota: () => t("error.largerThanQuota"),
  account_disabled: () => t("error.accountDisabled"),
  account_deleted: () => t("error.accountDeleted"),
  last_admin: () => t("error.lastAdmin"),
  own_account: () => t("error.ownAccount"),
  bad_quota: () => t("error.badQuota"),
};

// errorText is what to tell the user about a failed call.
function errorText(e) {
  return Object.hasOwn(errorMessages, e.code) ? errorMessages[e.code](e) : e.message;
}

function toast(msg) {
  const box = $("toast");
  box.textContent = msg;
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { box.hidden = true; }, 4000);
}

function show(view) {
  for (const v of views) $(v).hidden = v !== view;
  $("nav").hidden = !me;
  $("nav-admin").hidden = !(me && me.isAdmin);
  $("search-form").hidden = !me;
  if (me) searchHint(me.searchExamples);
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

// statusNames are an image's statuses in words.
const statusNames = { queued: () => t("status.queued"), labelled: () => t("status.labelled"), failed: () => t("status.failed") };

function statusText(status) {
  return Object.hasOwn(statusNames, status) ? statusNames[status]() : status;
}

function statusBadge(img) {
  return el("span", { className: "status " + img.status, textContent: statusText(img.status) });
}

// labelNames are what a photo's alt text says: what the classifier saw.
function labelNames(img) {
  return img.labels.filter((l) => !l.derivedFrom).map((l) => l.name).join(", ") || t("photo.alt");
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
  } else if (path === "/search") {
    const terms = (new URLSearchParams(location.search).get("q") || "").split(",").map((s) => s.trim()).filter(Boolean);
    galleryView(terms.length ? terms : null, false, true);
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
  } else if (path === "/account") {
    accountView();
  } else {
    show("notfound-view");
  }
}

// authConfig is GET /api/auth/config: whether single sign-on is on, under what name,
// and whether passwords and sign-up are; read once.
let authConfig = null;

async function loadAuthConfig() {
  if (authConfig) return authConfig;
  try {
    authConfig = await api("/api/auth/config");
  } catch (e) {
    return { localPasswords: true, signUp: true, oidc: false, oidcProvider: "" };
  }
  return authConfig;
}

// showSignInMethods shows the single sign-on button when it is on, and the password
// form and the sign-up link only when the gallery keeps them.
async function showSignInMethods(mode) {
  const c = await loadAuthConfig();
  $("sso").hidden = !c.oidc;
  $("sso-button").textContent = c.oidcProvider ? t("auth.ssoWith", { provider: c.oidcProvider }) : t("auth.sso");
  $("sso-or").hidden = !c.localPasswords;
  $("auth-form").hidden = !c.localPasswords || (mode === "signup" && !c.signUp);
  $("auth-switch").hidden = !c.signUp;
}

function authView(mode) {
  const up = mode === "signup";
  showSignInMethods(mode);
  $("auth-title").textContent = up ? t("auth.signUpTitle") : t("auth.signIn");
  $("auth-submit").textContent = up ? t("auth.signUp") : t("auth.signIn");
  $("auth-switch").textContent = up ? t("auth.toSignIn") : t("auth.toSignUp");
  $("auth-switch").href = up ? "/signin" : "/signup";
  $("password").autocomplete = up ? "new-password" : "current-password";
  // New passwords: 12 characters or more (the server also refuses common ones); an
  // account's existing password may be older and shorter.
  $("password").minLength = up ? 12 : 8;
  $("password-hint").hidden = !up;
  $("auth-form").dataset.mode = mode;
  show("auth-view");
}

// submitAuth signs in, or signs up and then in: sign-up answers the same whether the
// address is new or already has an account (so that it tells nobody who has one), and
// starts no session; the sign-in after it shows which it was.
async function submitAuth(ev) {
  ev.preventDefault();
  const mode = $("auth-form").dataset.mode;
  const post = (path, body) => api(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const creds = { email: $("email").value, password: $("password").value };
  try {
    if (mode === "signup") await post("/api/auth/signup", creds);
    let s;
    try {
      s = await post("/api/auth/signin", { ...creds, remember: $("remember").checked });
    } catch (e) {
      if (mode === "signup" && e.code === "bad_credentials") e.code = "signup_not_signed_in";
      throw e;
    }
    $("password").value = "";
    // /api/me rather than s.user: it says what the gallery's search knows too.
    me = await api("/api/me").catch(() => s.user);
    go("/");
  } catch (e) {
    toast(errorText(e));
  }
}

function card(img) {
  const li = el("li", { className: "card" });
  li.dataset.id = img.id;
  li.dataset.status = img.status;
  const a = el("a", { className: "thumb", href: "/images/" + img.id });
  a.dataset.link = "";
  a.append(el("img", { src: img.thumbnailUrl, alt: labelNames(img), loading: "lazy" }));
  const info = el("div", { className: "info" }, statusBadge(img));
  if (img.status === "queued" && img.queuePosition !== null && img.queuePosition !== undefined) {
    info.append(" ", el("span", { className: "muted", textContent: t("card.inQueue", { position: img.queuePosition + 1 }) }));
  }
  const labels = el("ul", { className: "labels" });
  for (const l of img.labels.filter((l) => !l.derivedFrom).slice(0, 4)) labels.append(el("li", {}, labelLink(l.name)));
  info.append(labels);
  // Found by a word in the photo: the line it is on.
  const text = (img.matches || []).find((m) => m.kind === "text" && m.snippet);
  if (text) info.append(el("p", { className: "snippet muted", textContent: t("card.snippet", { text: text.snippet }) }));
  li.append(a, info);
  return li;
}

// galleryView lists the photos: all of them, those with every one of labels, or with
// searched, those the ranked search finds for the terms in labels (labels, their parents,
// words in the photos).
async function galleryView(labels, append = false, searched = false) {
  show("gallery-view");
  $("gallery-title").textContent = !labels ? t("gallery.title") :
    searched ? t("gallery.searched", { terms: labels.join(", ") }) : t("gallery.labelled", { labels: labels.join(" + ") });
  if (document.activeElement !== $("search-input")) $("search-input").value = labels ? labels.join(", ") : "";
  let url = !labels ? "/api/images?limit=60" :
    searched ? "/api/search?q=" + encodeURIComponent(labels.join(",")) :
    "/api/search?" + labels.map((l) => "label=" + encodeURIComponent(l)).join("&");
  if (append && nextCursor) url += (url.includes("?") ? "&" : "?") + "cursor=" + encodeURIComponent(nextCursor);
  let page;
  try {
    page = await api(url);
  } catch (e) {
    if (e.status === 401) { me = null; route(); return; }
    toast(errorText(e));
    return;
  }
  const grid = $("grid");
  if (!append) grid.replaceChildren();
  if (!append) showQuota($("quota"));
  for (const img of page.images) grid.append(card(img));
  nextCursor = page.next;
  $("more").hidden = !page.next;
  $("more").onclick = () => galleryView(labels, true, searched);
  $("empty").hidden = grid.children.length > 0;
  $("empty").textContent = !labels ? t("gallery.empty") : searched ? t("gallery.noSearchMatch") : t("gallery.noMatch");
  // While photos wait for labels, refresh the first page now and then.
  if (!append && page.images.some((i) => i.status === "queued")) {
    pollTimer = setTimeout(() => galleryView(labels, false, searched), 3000);
  }
}

async function upload(files) {
  const photos = Array.from(files);
  if (!photos.length) return;
  const form = new FormData();
  for (const f of photos) form.append("file", f, f.name);
  toast(t("upload.uploading", { count: photos.length }));
  try {
    const res = await api("/api/images", { method: "POST", body: form });
    toast(uploadedMessage(res.images));
    if (location.pathname !== "/") history.pushState(null, "", "/");
    galleryView(null);
  } catch (e) {
    toast(t("upload.refused", { reason: errorText(e) }));
  }
}

async function labelsView() {
  show("labels-view");
  const list = $("label-list");
  list.replaceChildren();
  try {
    const res = await api("/api/labels");
    for (const l of res.labels) list.append(el("li", {}, labelLink(l.name, t("labels.count", { name: l.name, count: l.images }))));
    $("labels-empty").hidden = res.labels.length > 0;
  } catch (e) {
    toast(errorText(e));
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
  $("image-full").alt = labelNames(img);
  $("image-original").href = img.originalUrl;
  $("image-original").download = downloadName(img);
  $("image-status").className = "status " + img.status;
  $("image-status").textContent = statusText(img.status);
  // The failure reason is the worker's, in English.
  $("image-queue").textContent = img.status === "queued" && img.queuePosition != null ? t("image.inQueue", { position: img.queuePosition + 1 }) :
    img.status === "failed" ? "(" + img.failureReason + ")" : "";
  const meta = [t("image.size", { width: img.width, height: img.height }), formatBytes(img.sizeBytes)];
  if (img.takenAt) meta.push(el("span", {}, ...tNodes("image.taken", { date: timeEl(img.takenAt) })));
  meta.push(el("span", {}, ...tNodes("image.uploaded", { date: timeEl(img.createdAt) })));
  $("image-meta").replaceChildren(...meta.flatMap((m, i) => (i ? [" · ", m] : [m])));
  const labels = $("image-labels");
  labels.replaceChildren();
  // What the classifier saw, then the broader words each one brings (a search for them
  // finds this photo too).
  for (const l of img.labels.filter((l) => !l.derivedFrom)) {
    labels.append(el("li", {}, labelLink(l.name, t("image.confidence", { name: l.name, percent: formatNumber(l.confidence / 100, { style: "percent" }) }))));
  }
  for (const l of img.labels.filter((l) => l.derivedFrom)) {
    labels.append(el("li", { className: "derived", title: t("image.derivedTitle", { label: l.derivedFrom }) },
      labelLink(l.name, t("image.derived", { name: l.name, label: l.derivedFrom }))));
  }
  // The words read in the photo (by Tesseract or Rekognition), when there are any.
  $("image-text-section").hidden = !(img.text && img.text.content);
  $("image-text").textContent = img.text && img.text.content ? img.text.content : "";
  $("image-delete").onclick = async () => {
    if (!confirm(t("image.confirmDelete"))) return;
    try {
      await api("/api/images/" + encodeURIComponent(id), { method: "DELETE" });
      go("/");
    } catch (e) {
      toast(errorText(e));
    }
  };
  imageAlbumControls(img);
  reclassifyControls(img);
  if (img.status === "queued") pollTimer = setTimeout(() => imageView(id), 3000);
}

// languageHooks run when the language changes, before the view is made again: a view
// that keeps parts it built (albums.js) drops them.
const languageHooks = [];

// switchLanguage shows the app in another language at once: the markup is translated,
// the view made again.
async function switchLanguage(l) {
  try {
    await chooseLanguage(l);
  } catch (e) {
    toast(errorText(e));
    return;
  }
  $("language").value = lang;
  for (const f of languageHooks) f();
  route();
}

document.addEventListener("DOMContentLoaded", async () => {
  $("auth-form").addEventListener("submit", submitAuth);
  // "Remember me" applies to single sign-on as well.
  $("remember").addEventListener("change", (ev) => {
    $("sso-button").href = "/api/auth/oidc/start" + (ev.target.checked ? "?remember=true" : "");
  });
  $("upload-input").addEventListener("change", (ev) => { upload(ev.target.files); ev.target.value = ""; });
  $("signout").addEventListener("click", async () => {
    await api("/api/auth/signout", { method: "POST" }).catch(() => {});
    me = null;
    go("/signin");
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
  $("language").addEventListener("change", (ev) => switchLanguage(ev.target.value));
  try {
    await useLanguage(preferredLanguage());
  } catch (e) {
    console.error(e); // the keys show instead of the words; the app still works
  }
  $("language").value = lang;
  route();
});
