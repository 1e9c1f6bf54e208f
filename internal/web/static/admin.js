// Reclassification and the admin view, on top of app.js (its helpers $, api, el, show,
// go, toast, errorText and me) and i18n.js. Text from the server is only ever set with
// textContent.
"use strict";

views.push("admin-view");

// reclassifyControls offers to classify a labelled or failed photo again.
function reclassifyControls(img) {
  const b = $("image-reclassify");
  b.hidden = img.status === "queued";
  b.onclick = async () => {
    try {
      await api("/api/images/" + encodeURIComponent(img.id) + "/reclassify", { method: "POST" });
      toast(t("image.reclassifyQueued"));
    } catch (e) {
      toast(errorText(e));
    }
  };
}

async function reclassifyAll() {
  if (!confirm(t("gallery.confirmReclassifyAll"))) return;
  try {
    const r = await api("/api/images/reclassify", { method: "POST" });
    toast(t("gallery.reclassifyAllQueued", { count: r.images }));
  } catch (e) {
    toast(errorText(e));
  }
}

// uploadedMessage says what an upload did, duplicates included.
function uploadedMessage(images) {
  const dups = images.filter((i) => i.duplicate).length;
  if (dups === 0) return t("upload.done");
  if (dups === images.length) return dups === 1 ? t("upload.duplicate") : t("upload.allDuplicates", { count: dups });
  return t("upload.someDuplicates", { count: dups });
}

function count(v) {
  return v === null || v === undefined ? t("admin.unknown") : formatNumber(v);
}

async function adminView() {
  if (!me.isAdmin) {
    show("notfound-view");
    return;
  }
  show("admin-view");
  let st;
  try {
    st = await api("/api/admin/stats");
  } catch (e) {
    if (e.status === 401) { me = null; route(); return; }
    toast(errorText(e));
    return;
  }
  const q = st.queue;
  const rows = [
    [t("admin.users"), st.users], [t("admin.photos"), st.images], [t("admin.labels"), st.labels],
    [t("admin.queued"), st.imagesByStatus.queued], [t("admin.labelled"), st.imagesByStatus.labelled], [t("admin.failed"), st.imagesByStatus.failed],
    [t("admin.queueUploads"), q && q.normal], [t("admin.queueReclassification"), q && q.low],
    [t("admin.reclassifyPending"), st.reclassifyPending], [t("admin.deadLetterCount"), q && q.deadLetters],
  ];
  const totals = $("admin-totals");
  totals.replaceChildren();
  for (const [k, v] of rows) totals.append(el("dt", { textContent: k }), el("dd", { textContent: count(v) }));
  $("admin-queue-down").hidden = q !== null;

  const failures = $("admin-failures");
  failures.replaceChildren();
  for (const f of st.recentFailures) {
    // Ids are not numbers to format; the reason is the worker's, in English.
    const about = t("admin.failure", { date: formatDate(f.at), image: f.imageId, user: String(f.ownerId) });
    failures.append(el("li", {}, el("span", { className: "muted", textContent: about + ": " }), f.reason));
  }
  $("admin-failures-empty").hidden = st.recentFailures.length > 0;
  const dead = $("admin-dead");
  dead.replaceChildren();
  for (const d of st.recentDeadLetters) {
    const vars = { date: formatDate(d.at), image: d.imageId, user: String(d.ownerId), count: d.attempts };
    const about = d.priority === "low" ? t("admin.deadReclassification", vars) : t("admin.deadUpload", vars);
    dead.append(el("li", {}, el("span", { className: "muted", textContent: about + ": " }), d.reason));
  }
  $("admin-dead-empty").hidden = st.recentDeadLetters.length > 0;
  if (!document.querySelector("#admin-user-rows tr")) adminUsers(false);
  pollTimer = setTimeout(adminView, 10000);
}

// The accounts: a page at a time, each with its state, usage and quota, and the
// actions an admin may take on it.
let usersCursor = null;

async function adminUsers(append) {
  let page;
  try {
    page = await api("/api/admin/users?limit=50" + (append && usersCursor ? "&cursor=" + encodeURIComponent(usersCursor) : ""));
  } catch (e) {
    toast(errorText(e));
    return;
  }
  const rows = $("admin-user-rows");
  if (!append) rows.replaceChildren();
  for (const u of page.users) rows.append(userRow(u));
  usersCursor = page.next;
  $("admin-users-more").hidden = !page.next;
}

function userRow(u) {
  const state = u.deleting ? t("admin.stateDeleting") : u.disabled ? t("admin.stateDisabled") : u.isAdmin ? t("admin.stateAdmin") : t("admin.stateActive");
  const actions = el("td", { className: "actions" });
  const act = (label, fn, cls) => {
    const b = el("button", { type: "button", textContent: label, className: cls || "secondary" });
    b.addEventListener("click", fn);
    actions.append(b);
  };
  if (!u.deleting && u.id !== me.id) {
    if (u.disabled) act(t("admin.enable"), () => userAction(u, "enable"));
    else act(t("admin.disable"), () => userAction(u, "disable"));
  }
  if (!u.deleting) act(t("admin.setQuota"), () => setQuota(u));
  if (!u.deleting && u.id !== me.id) {
    act(t("admin.delete"), () => {
      if (confirm(t("admin.confirmDelete", { email: u.email }))) userAction(u, "delete");
    }, "danger");
  }
  const row = el("tr", {}, el("td", { textContent: u.email }), el("td", { textContent: state }),
    el("td", { textContent: quotaText(u.quota) }), actions);
  row.dataset.userId = String(u.id);
  return row;
}

async function userAction(u, action) {
  const path = "/api/admin/users/" + encodeURIComponent(u.id);
  try {
    if (action === "delete") await api(path, { method: "DELETE" });
    else await api(path + "/" + action, { method: "POST" });
  } catch (e) {
    toast(errorText(e));
    return;
  }
  toast(action === "delete" ? t("admin.deleted", { email: u.email }) : t("admin.changed", { email: u.email }));
  adminUsers(false);
}

// readLimit asks for one limit: empty keeps the gallery's default, "-1" is unlimited.
function readLimit(question, current) {
  const v = prompt(question, current === null || current === undefined ? "" : String(current));
  if (v === null) return undefined; // cancelled
  if (v.trim() === "") return null;
  const n = Number(v.trim());
  return Number.isFinite(n) ? n : NaN;
}

async function setQuota(u) {
  const gb = readLimit(t("admin.quotaStoragePrompt", { email: u.email }),
    u.override.storageBytes === null ? null : u.override.storageBytes < 0 ? -1 : u.override.storageBytes / (1024 * 1024 * 1024));
  if (gb === undefined) return;
  const photos = readLimit(t("admin.quotaPhotosPrompt", { email: u.email }), u.override.photos);
  if (photos === undefined) return;
  if (Number.isNaN(gb) || Number.isNaN(photos)) {
    toast(t("error.badQuota"));
    return;
  }
  const storageBytes = gb === null || gb < 0 ? gb : Math.round(gb * 1024 * 1024 * 1024);
  try {
    await api("/api/admin/users/" + encodeURIComponent(u.id) + "/quota", {
      method: "PUT",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ storageBytes, photos }),
    });
  } catch (e) {
    toast(errorText(e));
    return;
  }
  toast(t("admin.changed", { email: u.email }));
  adminUsers(false);
}

document.addEventListener("DOMContentLoaded", () => {
  $("reclassify-all").addEventListener("click", reclassifyAll);
  $("admin-users-more").addEventListener("click", () => adminUsers(true));
});
