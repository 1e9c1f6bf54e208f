// Albums and share links, on top of app.js (its helpers $, api, el, show, go, toast,
// errorText, card and labelLink) and i18n.js. Text from the server is only ever set
// with textContent.
"use strict";

views.push("albums-view", "album-view", "shares-view", "shared-view");
let albumCursor = null;   // the open album's next page
let sharedCursor = null;  // the shared album's next page
let controlsFor = null;   // the image whose album and share controls are built

// The choices of a new link's lifetime, in days (0: no expiry).
const shareLifetimeDays = [1, 7, 30, 0];

languageHooks.push(() => { controlsFor = null; });

// coverCard is an album's card: its cover thumbnail, name and count, linking to href.
function coverCard(href, name, count, thumbnailUrl) {
  const li = el("li", { className: "card album-card" });
  const a = el("a", { className: "thumb", href });
  a.dataset.link = "";
  if (thumbnailUrl) a.append(el("img", { src: thumbnailUrl, alt: "", loading: "lazy" }));
  const info = el("div", { className: "info" },
    el("a", { href, textContent: name }), " ", el("span", { className: "muted", textContent: t("albums.count", { count }) }));
  info.firstChild.dataset.link = "";
  li.append(a, info);
  return li;
}

function signedOut(e) {
  if (e.status !== 401) return false;
  me = null;
  route();
  return true;
}

async function albumsView() {
  controlsFor = null;
  show("albums-view");
  const list = $("album-list");
  const byLabel = $("label-album-list");
  try {
    const [named, labelled] = await Promise.all([api("/api/albums"), api("/api/label-albums")]);
    list.replaceChildren();
    for (const a of named.albums) list.append(coverCard("/albums/" + a.id, a.name, a.images, a.coverThumbnailUrl));
    $("albums-empty").hidden = named.albums.length > 0;
    byLabel.replaceChildren();
    for (const a of labelled.albums) {
      byLabel.append(coverCard("/labels/" + encodeURIComponent(a.label), a.label, a.images, a.coverThumbnailUrl));
    }
    $("label-albums-empty").hidden = labelled.albums.length > 0;
  } catch (e) {
    if (!signedOut(e)) toast(errorText(e));
  }
}

async function createAlbum(ev) {
  ev.preventDefault();
  try {
    const a = await api("/api/albums", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ name: $("album-name").value }),
    });
    $("album-name").value = "";
    go("/albums/" + a.id);
  } catch (e) {
    toast(errorText(e));
  }
}

async function albumView(id, append = false) {
  controlsFor = null;
  const base = "/api/albums/" + encodeURIComponent(id);
  let album, page;
  try {
    let url = base + "/images?limit=60";
    if (append && albumCursor) url += "&cursor=" + encodeURIComponent(albumCursor);
    [album, page] = await Promise.all([api(base), api(url)]);
  } catch (e) {
    if (!signedOut(e)) show("notfound-view");
    return;
  }
  show("album-view");
  $("album-title").textContent = album.name;
  const grid = $("album-grid");
  if (!append) {
    grid.replaceChildren();
    sharePanel($("album-share"), { albumId: id }, t("album.share"));
  }
  for (const img of page.images) {
    const c = card(img);
    const remove = el("button", { type: "button", className: "link remove", textContent: t("album.remove") });
    remove.onclick = async () => {
      try {
        await api(base + "/images/" + encodeURIComponent(img.id), { method: "DELETE" });
        c.remove();
        $("album-empty").hidden = grid.children.length > 0;
      } catch (e) {
        toast(errorText(e));
      }
    };
    c.querySelector(".info").append(remove);
    grid.append(c);
  }
  albumCursor = page.next;
  $("album-more").hidden = !page.next;
  $("album-more").onclick = () => albumView(id, true);
  $("album-empty").hidden = grid.children.length > 0;
  $("album-rename").onclick = async () => {
    const name = prompt(t("album.renamePrompt"), album.name);
    if (name === null) return;
    try {
      const a = await api(base, { method: "PATCH", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ name }) });
      $("album-title").textContent = a.name;
      album = a;
    } catch (e) {
      toast(errorText(e));
    }
  };
  $("album-delete").onclick = async () => {
    if (!confirm(t("album.confirmDelete", { name: album.name }))) return;
    try {
      await api(base, { method: "DELETE" });
      go("/albums");
    } catch (e) {
      toast(errorText(e));
    }
  };
}

// imageAlbumControls fills the image page's "add to album" and share controls, once
// per image (the page refreshes while the photo waits for labels).
async function imageAlbumControls(img) {
  if (controlsFor === img.id) return;
  controlsFor = img.id;
  sharePanel($("image-share"), { imageId: img.id }, t("image.share"));
  const select = $("image-album");
  select.replaceChildren(el("option", { value: "", textContent: t("image.chooseAlbum") }));
  try {
    const res = await api("/api/albums");
    for (const a of res.albums) select.append(el("option", { value: a.id, textContent: a.name }));
  } catch (e) {
    toast(errorText(e));
  }
  select.append(el("option", { value: "new", textContent: t("image.newAlbum") }));
  $("image-album-form").onsubmit = async (ev) => {
    ev.preventDefault();
    let albumId = select.value;
    try {
      if (albumId === "new") {
        const name = prompt(t("albums.newName"));
        if (!name) return;
        const a = await api("/api/albums", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ name }) });
        albumId = a.id;
        select.insertBefore(el("option", { value: a.id, textContent: a.name }), select.lastChild);
        select.value = a.id;
      }
      if (!albumId) { toast(t("image.chooseAlbumFirst")); return; }
      const a = await api("/api/albums/" + encodeURIComponent(albumId) + "/images", {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ imageIds: [img.id] }),
      });
      toast(t("image.added", { name: a.name }));
    } catch (e) {
      toast(errorText(e));
    }
  };
}

// sharePanel puts a "share" control into box: a lifetime and a button that makes the
// link and shows it, once, ready to copy.
function sharePanel(box, target, label) {
  const lifetime = el("select", { ariaLabel: t("share.lifetime") });
  for (const days of shareLifetimeDays) {
    lifetime.append(el("option", { value: String(days * 86400), textContent: days ? t("share.days", { count: days }) : t("share.noExpiry") }));
  }
  const button = el("button", { type: "button", className: "share-create", textContent: label });
  const out = el("div", { className: "share-result" });
  out.hidden = true;
  button.onclick = async () => {
    const req = { ...target };
    if (lifetime.value !== "0") req.expiresInSeconds = Number(lifetime.value);
    try {
      const sh = await api("/api/shares", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(req) });
      const link = el("input", { type: "text", readOnly: true, value: location.origin + sh.url, className: "share-url", ariaLabel: t("share.link") });
      const copy = el("button", { type: "button", textContent: t("share.copy") });
      copy.onclick = async () => {
        link.select();
        try { await navigator.clipboard.writeText(link.value); toast(t("share.copied")); } catch (e) { toast(t("share.copyByHand")); }
      };
      const note = (sh.expiresAt ? t("share.expires", { date: formatDate(sh.expiresAt) }) + " " : "") + t("share.copyNow");
      out.replaceChildren(el("div", { className: "inline-form" }, link, copy), el("p", { className: "muted", textContent: note }));
      out.hidden = false;
    } catch (e) {
      toast(errorText(e));
    }
  };
  box.replaceChildren(el("div", { className: "inline-form" }, lifetime, button), out);
}

async function sharesView() {
  controlsFor = null;
  show("shares-view");
  const list = $("share-list");
  let res;
  try {
    res = await api("/api/shares");
  } catch (e) {
    if (!signedOut(e)) toast(errorText(e));
    return;
  }
  list.replaceChildren();
  for (const sh of res.shares) {
    const what = sh.kind === "album"
      ? el("a", { href: "/albums/" + sh.albumId, textContent: t("shares.album", { name: sh.albumName }) })
      : el("a", { href: "/images/" + sh.imageId, textContent: t("shares.photo") });
    what.dataset.link = "";
    const when = t("shares.made", { date: formatDate(sh.createdAt) }) + " · " +
      (sh.expired ? t("shares.expired") : sh.expiresAt ? t("shares.expires", { date: formatDate(sh.expiresAt) }) : t("shares.noExpiry"));
    const revoke = el("button", { type: "button", className: "danger", textContent: t("shares.revoke") });
    const li = el("li", { className: sh.expired ? "expired" : "" }, what, " ", el("span", { className: "muted", textContent: when }), " ", revoke);
    li.dataset.id = sh.id;
    revoke.onclick = async () => {
      if (!confirm(t("shares.confirmRevoke"))) return;
      try {
        await api("/api/shares/" + encodeURIComponent(sh.id), { method: "DELETE" });
        li.remove();
        $("shares-empty").hidden = list.children.length > 0;
      } catch (e) {
        toast(errorText(e));
      }
    };
    list.append(li);
  }
  $("shares-empty").hidden = res.shares.length > 0;
}

// sharedView is the page a link opens, for anyone: only what was shared.
async function sharedView(token, append = false) {
  show("shared-view");
  // The viewer's own navigation is not part of what someone shared with them.
  $("nav").hidden = true;
  $("search-form").hidden = true;
  const base = "/api/shared/" + encodeURIComponent(token);
  const grid = $("shared-grid");
  let info = null, page;
  try {
    if (!append) info = await api(base);
    let url = base + "/images?limit=60";
    if (append && sharedCursor) url += "&cursor=" + encodeURIComponent(sharedCursor);
    page = await api(url);
  } catch (e) {
    grid.replaceChildren();
    $("shared-title").textContent = t("shared.unavailable");
    $("shared-meta").textContent = "";
    $("shared-more").hidden = true;
    $("shared-gone").hidden = false;
    $("shared-gone").textContent = e.status === 404 ? t("shared.gone") : errorText(e);
    return;
  }
  $("shared-gone").hidden = true;
  if (info) {
    grid.replaceChildren();
    $("shared-title").textContent = info.kind === "album" ? info.album.name : t("shared.photo");
    const meta = [];
    if (info.kind === "album") meta.push(t("shared.photos", { count: info.album.images }));
    if (info.expiresAt) meta.push(t("shared.expires", { date: formatDate(info.expiresAt) }));
    $("shared-meta").textContent = meta.join(" · ");
  }
  const single = info && info.kind === "image";
  grid.classList.toggle("single", single);
  for (const img of page.images) {
    const li = el("li", { className: "card" });
    li.dataset.id = img.id;
    // One shared photo is shown whole; an album's as thumbnails opening the display
    // version (which every browser shows, unlike a HEIC or RAW original). Each has a
    // link to download the original.
    const a = el("a", { className: single ? "" : "thumb", href: img.displayUrl, target: "_blank", rel: "noopener noreferrer" });
    const pic = el("img", { alt: t("shared.photoAlt"), loading: "lazy" });
    if (single) showDisplay(pic, img); else pic.src = img.thumbnailUrl;
    a.append(pic);
    const download = el("a", { className: "download", href: img.originalUrl, download: downloadName(img), textContent: t("image.download") });
    li.append(a, el("div", { className: "info" }, download));
    grid.append(li);
  }
  sharedCursor = page.next;
  $("shared-more").hidden = !page.next;
  $("shared-more").onclick = () => sharedView(token, true);
}

document.addEventListener("DOMContentLoaded", () => {
  $("album-create").addEventListener("submit", createAlbum);
});
