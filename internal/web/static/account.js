// The user's account: their storage quota and usage (also shown above the gallery), and
// deleting the account, on top of app.js (its helpers $, api, el, show, go, toast,
// errorText and me) and i18n.js.
"use strict";

views.push("account-view");

// quotaText says what the user stores of what they may store.
function quotaText(q) {
  const bytes = q.storageBytes === null
    ? t("quota.bytesUnlimited", { used: formatBytes(q.usedBytes) })
    : t("quota.bytes", { used: formatBytes(q.usedBytes), limit: formatBytes(q.storageBytes) });
  const photos = q.photos === null
    ? t("quota.photosUnlimited", { count: q.usedPhotos })
    : t("quota.photos", { used: formatNumber(q.usedPhotos), limit: formatNumber(q.photos) });
  return bytes + " · " + photos;
}

// quotaFull reports whether nothing more can be uploaded.
function quotaFull(q) {
  return (q.storageBytes !== null && q.usedBytes >= q.storageBytes) || (q.photos !== null && q.usedPhotos >= q.photos);
}

// showQuota reads the user's usage afresh into box.
async function showQuota(box) {
  try {
    me = await api("/api/me");
  } catch {
    return; // the view's own call reports the failure
  }
  box.textContent = quotaText(me.quota) + (quotaFull(me.quota) ? " · " + t("quota.full") : "");
  box.classList.toggle("warn", quotaFull(me.quota));
  box.hidden = false;
}

function accountView() {
  show("account-view");
  $("account-email").textContent = t("account.signedInAs", { email: me.email });
  showQuota($("account-quota"));
}

async function deleteAccount(ev) {
  ev.preventDefault();
  if (!confirm(t("account.confirmDelete"))) return;
  try {
    await api("/api/me", {
      method: "DELETE",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ password: $("account-delete-password").value }),
    });
  } catch (e) {
    toast(errorText(e));
    return;
  } finally {
    $("account-delete-password").value = "";
  }
  me = null;
  toast(t("account.deleted"));
  go("/signin");
}

document.addEventListener("DOMContentLoaded", () => {
  $("account-delete-form").addEventListener("submit", deleteAccount);
});
