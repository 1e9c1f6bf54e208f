// The search box, on top of app.js (its helpers $, api, el, go, languageHooks and me)
// and i18n.js: a hint naming words the gallery's classifier can give, and, while
// typing, the user's own labels that match, most frequent first, in an ARIA combobox
// (arrow keys, Enter, Escape, or the mouse). Labels are separated by commas, as label
// names hold spaces ("hot dog"); a search finds the photos that have all of them.
"use strict";

let userLabels = null; // GET /api/labels: the user's labels with counts, most frequent first
let userLabelsAt = 0;  // when they were read
let userLabelsOf = null; // and whose: another user signing in on the page reads their own
let suggested = [];    // the labels in the open list
let active = -1;       // the highlighted one, or -1

const maxSuggestions = 8;
const labelsMaxAge = 30000; // labels come as photos are classified: read them again after this

// searchHint sets the search box's placeholder from GET /api/me's searchExamples.
function searchHint(examples) {
  $("search-input").placeholder = examples && examples.length
    ? t("search.placeholder", { examples: examples.join(", ") })
    : t("search.label");
}

// searchTerms splits what was typed into lower-case labels.
function searchTerms(value) {
  return value.split(",").map((s) => s.trim().toLowerCase()).filter(Boolean);
}

async function loadUserLabels() {
  const who = me && me.id;
  if (userLabels && userLabelsOf === who && Date.now() - userLabelsAt < labelsMaxAge) return;
  try {
    userLabels = (await api("/api/labels")).labels;
    userLabelsAt = Date.now();
    userLabelsOf = who;
  } catch (e) {
    userLabels = null; // no suggestions; the search itself still works
  }
}

// matches are the user's labels for the term being typed (after the last comma):
// those starting with it, then those with a word starting with it, most frequent first
// within each; never one already in the search.
function matches(value) {
  const parts = value.split(",");
  const term = parts.pop().trim().toLowerCase();
  if (!term || !userLabels) return [];
  const chosen = new Set(searchTerms(parts.join(",")));
  const byCount = (a, b) => b.images - a.images || a.name.localeCompare(b.name);
  const open = userLabels.filter((l) => !chosen.has(l.name));
  const starts = open.filter((l) => l.name.startsWith(term)).sort(byCount);
  const inside = open.filter((l) => !l.name.startsWith(term) && l.name.split(" ").some((w) => w.startsWith(term))).sort(byCount);
  return starts.concat(inside).slice(0, maxSuggestions);
}

function closeSuggestions() {
  suggested = [];
  active = -1;
  $("search-suggestions").hidden = true;
  $("search-suggestions").replaceChildren();
  $("search-input").setAttribute("aria-expanded", "false");
  $("search-input").removeAttribute("aria-activedescendant");
}

function showSuggestions() {
  suggested = matches($("search-input").value);
  active = -1;
  if (!suggested.length) {
    closeSuggestions();
    return;
  }
  const list = $("search-suggestions");
  list.replaceChildren(...suggested.map((l, i) => {
    const li = el("li", { id: "search-option-" + i, className: "suggestion" },
      el("span", { textContent: l.name }), " ", el("span", { className: "muted", textContent: formatNumber(l.images) }));
    li.setAttribute("role", "option");
    li.setAttribute("aria-selected", "false");
    li.setAttribute("aria-label", t("labels.count", { name: l.name, count: l.images }));
    li.dataset.label = l.name;
    // mousedown, not click: the input keeps its focus, so the list stays until chosen.
    li.addEventListener("mousedown", (ev) => { ev.preventDefault(); pick(i); });
    return li;
  }));
  list.hidden = false;
  $("search-input").setAttribute("aria-expanded", "true");
}

function highlight(i) {
  active = i;
  const input = $("search-input");
  for (const li of $("search-suggestions").children) li.setAttribute("aria-selected", String(li.id === "search-option-" + i));
  if (i < 0) {
    input.removeAttribute("aria-activedescendant");
    return;
  }
  input.setAttribute("aria-activedescendant", "search-option-" + i);
  $("search-option-" + i).scrollIntoView({ block: "nearest" });
}

// pick completes the term being typed with suggestion i and searches.
function pick(i) {
  const input = $("search-input");
  const parts = input.value.split(",");
  parts[parts.length - 1] = suggested[i].name;
  input.value = parts.map((s) => s.trim()).filter(Boolean).join(", ");
  closeSuggestions();
  search();
}

function search() {
  const names = searchTerms($("search-input").value);
  // The box searches labels, their parents and the words in photos, ranked (/api/search?q=);
  // a label's own page (/labels/…) lists that label's photos only.
  go(names.length ? "/search?q=" + encodeURIComponent(names.join(",")) : "/");
}

function onSearchKey(ev) {
  const open = !$("search-suggestions").hidden;
  if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
    ev.preventDefault();
    if (!open) {
      showSuggestions();
      if (suggested.length) highlight(ev.key === "ArrowDown" ? 0 : suggested.length - 1);
      return;
    }
    // Past either end the highlight goes back to the typed text (-1), then around.
    const n = suggested.length;
    if (ev.key === "ArrowDown") highlight(active + 1 < n ? active + 1 : -1);
    else highlight(active - 1 >= -1 ? active - 1 : n - 1);
  } else if (ev.key === "Enter" && open && active >= 0) {
    ev.preventDefault();
    pick(active);
  } else if (ev.key === "Escape" && open) {
    ev.preventDefault(); // the list closes; the text stays
    closeSuggestions();
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const input = $("search-input");
  $("search-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    closeSuggestions();
    search();
  });
  input.addEventListener("focus", loadUserLabels);
  input.addEventListener("input", async () => {
    await loadUserLabels();
    showSuggestions();
  });
  input.addEventListener("keydown", onSearchKey);
  input.addEventListener("blur", closeSuggestions);
  languageHooks.push(closeSuggestions);
});
