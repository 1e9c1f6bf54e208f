// The account page (/account): the user's storage quota and usage (also shown above
// the gallery), their sessions (each revocable, and "sign out everywhere"), the password
// change and deleting the account, on top of app.js (its helpers $, api, el, show, go,
// toast, errorText and me) and i18n.js. Text from the server (a session's user agent)
// is only ever set with textContent.
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

async function accountView() {
  show("account-view");
  $("account-email").textContent = t("account.signedInAs", { email: me.email });
  showQuota($("account-quota"));
  // An account of the single sign-on provider has no password to change or to confirm
  // a deletion with (the API answers no_password); the provider manages it.
  $("account-password").hidden = $("account-delete-part").hidden = !!me.singleSignOn;
  let res;
  try {
    res = await api("/api/sessions");
  } catch (e) {
    if (e.status === 401) { me = null; route(); return; }
    toast(errorText(e));
    return;
  }
  const list = $("session-list");
  list.replaceChildren();
  for (const s of res.sessions) {
    const li = el("li", {}, el("strong", { textContent: s.userAgent || t("account.unknownClient") }), " ",
      el("span", { className: "muted" }, ...tNodes("account.sessionDates", { started: timeEl(s.createdAt), used: timeEl(s.lastUsedAt) })));
    li.dataset.id = String(s.id);
    if (s.current) {
      li.append(" ", el("span", { className: "status labelled", textContent: t("account.thisSession") }));
    } else {
      const b = el("button", { type: "button", className: "secondary revoke", textContent: t("account.revoke") });
      b.onclick = () => revokeSession(s.id);
      li.append(" ", b);
    }
    list.append(li);
  }
  $("signout-others").hidden = res.sessions.length < 2;
}

async function revokeSession(id) {
  try {
    await api("/api/sessions/" + encodeURIComponent(id), { method: "DELETE" });
    toast(t("account.revoked"));
    accountView();
  } catch (e) {
    toast(errorText(e));
  }
}

// signOutEverywhere ends every session of the user; keepCurrent keeps this one.
async function signOutEverywhere(keepCurrent) {
  if (!keepCurrent && !confirm(t("account.confirmSignOutEverywhere"))) return;
  try {
    await api("/api/auth/signout-everywhere", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ keepCurrent }),
    });
  } catch (e) {
    toast(errorText(e));
    return;
  }
  if (keepCurrent) {
    toast(t("account.signedOutOthers"));
    accountView();
  } else {
    me = null;
    go("/signin");
  }
}

async function changePassword(ev) {
  ev.preventDefault();
  try {
    await api("/api/me/password", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ currentPassword: $("current-password").value, newPassword: $("new-password").value }),
    });
  } catch (e) {
    toast(errorText(e));
    return;
  }
  $("current-password").value = "";
  $("new-password").value = "";
  toast(t("account.passwordChanged"));
  accountView();
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
  $("signout-others").addEventListener("click", () => signOutEverywhere(true));
  $("signout-everywhere").addEventListener("click", () => signOutEverywhere(false));
  $("password-form").addEventListener("submit", changePassword);
  $("account-delete-form").addEventListener("submit", deleteAccount);
});
