// The search box, on top of app.js (its helpers $ and go) and i18n.js: a hint naming
// words the gallery's classifier can give. Labels are separated by commas, as label
// names hold spaces ("hot dog"); a search finds the photos that have all of them.
"use strict";

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

function search() {
  const names = searchTerms($("search-input").value);
  go(names.length ? "/labels/" + encodeURIComponent(names.join(",")) : "/");
}

document.addEventListener("DOMContentLoaded", () => {
  $("search-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    search();
  });
});
