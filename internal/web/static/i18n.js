// The app's words in the user's language: one catalogue per language,
// /static/i18n/<lang>.json, chosen from the switch in the header (kept in localStorage)
// or else from the browser's languages; dates and numbers formatted for it with Intl.
//
// Markup names its strings with data-i18n (the text), data-i18n-placeholder,
// data-i18n-aria-label and data-i18n-title; scripts call t("key", {name: value}) always
// with a literal key (a table of messages holds functions calling t). A catalogue's value is
// a string with {name} placeholders, or, for a count, one per plural category of the
// language ({"one": ..., "other": ...}; Korean has only "other"). TestCatalogues
// (i18n_test.go) reads the markup, the scripts and the catalogues, and fails when a key
// is missing from one of them.
"use strict";

const languages = ["en", "ko"]; // the catalogues; the first is for everyone else
const languageKey = "sortographer.lang";
let lang = languages[0]; // the UI's language
let locale = lang;       // for Intl: the browser's own variant of lang (en-GB), or lang
let catalogue = {};

// savedLanguage is the language picked with the switch, if any.
function savedLanguage() {
  try { return localStorage.getItem(languageKey); } catch (e) { return null; } // storage may be off
}

// preferredLanguage is the language picked with the switch, or the first of the
// browser's languages there is a catalogue for.
function preferredLanguage() {
  const saved = savedLanguage();
  if (languages.includes(saved)) return saved;
  for (const l of navigator.languages || [navigator.language]) {
    const base = l.toLowerCase().split("-")[0];
    if (languages.includes(base)) return base;
  }
  return languages[0];
}

// useLanguage loads l's catalogue and translates the page's markup; the caller
// renders the view again for the strings scripts make.
async function useLanguage(l) {
  const res = await fetch("/static/i18n/" + l + ".json");
  if (!res.ok) throw new Error("catalogue " + l + ": " + res.status);
  catalogue = await res.json();
  lang = l;
  locale = (navigator.languages || []).find((b) => b.toLowerCase().split("-")[0] === l) || l;
  document.documentElement.lang = l;
  for (const e of document.querySelectorAll("[data-i18n]")) e.textContent = t(e.dataset.i18n);
  for (const attr of ["placeholder", "aria-label", "title"]) {
    for (const e of document.querySelectorAll("[data-i18n-" + attr + "]")) e.setAttribute(attr, t(e.getAttribute("data-i18n-" + attr)));
  }
}

// chooseLanguage switches to l and remembers the choice.
async function chooseLanguage(l) {
  try { localStorage.setItem(languageKey, l); } catch (e) { /* kept for this page only */ }
  await useLanguage(l);
}

// t is the catalogue's text for key, its {name} placeholders filled from vars (numbers
// formatted for the locale); a value with plural forms is chosen by vars.count.
function t(key, vars = {}) {
  let s = catalogue[key];
  if (s === undefined) {
    console.warn("i18n: no " + key + " in " + lang);
    return key;
  }
  if (typeof s === "object") s = s[new Intl.PluralRules(locale).select(vars.count)] ?? s.other;
  return s.replace(/\{(\w+)\}/g, (m, name) => {
    if (!(name in vars)) return m;
    return typeof vars[name] === "number" ? formatNumber(vars[name]) : String(vars[name]);
  });
}

// tNodes is t for text with elements in it (a <time>): a placeholder whose value is a
// DOM node is that node, in the place the language puts it.
function tNodes(key, vars = {}) {
  const nodes = [];
  const marked = {};
  for (const [name, v] of Object.entries(vars)) marked[name] = v instanceof Node ? "\u0000" + (nodes.push(v) - 1) + "\u0000" : v;
  return t(key, marked).split("\u0000").map((part, i) => (i % 2 ? nodes[Number(part)] : part)).filter((p) => p !== "");
}

function formatNumber(n, options) {
  return new Intl.NumberFormat(locale, options).format(n);
}

// formatDate is a timestamp from the API as a date and time in the locale's way:
// "Dec 6, 2026, 3:04 PM", "2026. 12. 6. 오후 3:04".
function formatDate(iso) {
  return new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "short" }).format(new Date(iso));
}

// timeEl is a <time> element showing formatDate(iso).
function timeEl(iso) {
  const e = document.createElement("time");
  e.dateTime = iso;
  e.textContent = formatDate(iso);
  return e;
}

// formatBytes is a file size in KB, MB or GB (of 1024), in the locale's way.
function formatBytes(n) {
  if (n >= 1024 * 1024 * 1024) {
    return formatNumber(n / (1024 * 1024 * 1024), { style: "unit", unit: "gigabyte", maximumFractionDigits: 1 });
  }
  return n >= 1024 * 1024
    ? formatNumber(n / (1024 * 1024), { style: "unit", unit: "megabyte", maximumFractionDigits: 1 })
    : formatNumber(Math.max(1, Math.round(n / 1024)), { style: "unit", unit: "kilobyte" });
}
