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
  pollTimer = setTimeout(adminView, 10000);
}

document.addEventListener("DOMContentLoaded", () => {
  $("reclassify-all").addEventListener("click", reclassifyAll);
});
