// Reclassification and the admin view, on top of app.js (its helpers $, api, el, show,
// go, toast and me). Text from the server is only ever set with textContent.
"use strict";

views.push("admin-view");

// reclassifyControls offers to classify a labelled or failed photo again.
function reclassifyControls(img) {
  const b = $("image-reclassify");
  b.hidden = img.status === "queued";
  b.onclick = async () => {
    try {
      await api("/api/images/" + encodeURIComponent(img.id) + "/reclassify", { method: "POST" });
      toast("Queued for classification again: the labels change when it is done");
    } catch (e) {
      toast(e.message);
    }
  };
}

async function reclassifyAll() {
  if (!confirm("Classify all your photos again? New uploads still go first, so this can take a while.")) return;
  try {
    const r = await api("/api/images/reclassify", { method: "POST" });
    toast(r.images + " photo" + (r.images === 1 ? "" : "s") + " will be classified again; their labels stay until then");
  } catch (e) {
    toast(e.message);
  }
}

// uploadedMessage says what an upload did, duplicates included.
function uploadedMessage(images) {
  const dups = images.filter((i) => i.duplicate).length;
  if (dups === 0) return "Uploaded: classification queued";
  if (dups === images.length) return dups === 1 ? "Already in your gallery" : "All " + dups + " already in your gallery";
  return "Uploaded; " + dups + " already in your gallery";
}

function count(v) {
  return v === null || v === undefined ? "unknown" : v.toLocaleString();
}

function when(t) {
  return new Date(t).toLocaleString();
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
    toast(e.message);
    return;
  }
  const q = st.queue;
  const rows = [
    ["Users", st.users], ["Photos", st.images], ["Labels", st.labels],
    ["Queued", st.imagesByStatus.queued], ["Labelled", st.imagesByStatus.labelled], ["Failed", st.imagesByStatus.failed],
    ["Queue: uploads", q && q.normal], ["Queue: reclassification", q && q.low],
    ["Reclassification pending", st.reclassifyPending], ["Dead letters", q && q.deadLetters],
  ];
  const totals = $("admin-totals");
  totals.replaceChildren();
  for (const [k, v] of rows) totals.append(el("dt", { textContent: k }), el("dd", { textContent: count(v) }));
  $("admin-queue-down").hidden = q !== null;

  const failures = $("admin-failures");
  failures.replaceChildren();
  for (const f of st.recentFailures) {
    failures.append(el("li", {}, el("span", { className: "muted", textContent: when(f.at) + " · image " + f.imageId + " · user " + f.ownerId + ": " }), f.reason));
  }
  $("admin-failures-empty").hidden = st.recentFailures.length > 0;
  const dead = $("admin-dead");
  dead.replaceChildren();
  for (const d of st.recentDeadLetters) {
    const what = d.priority === "low" ? "reclassification" : "upload";
    dead.append(el("li", {}, el("span", { className: "muted", textContent: when(d.at) + " · " + what + " of image " + d.imageId +
      " · user " + d.ownerId + " · " + d.attempts + " attempts: " }), d.reason));
  }
  $("admin-dead-empty").hidden = st.recentDeadLetters.length > 0;
  pollTimer = setTimeout(adminView, 10000);
}

document.addEventListener("DOMContentLoaded", () => {
  $("reclassify-all").addEventListener("click", reclassifyAll);
});
