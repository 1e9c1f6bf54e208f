package web_test

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// pluralCategories are the CLDR plural categories of each language the UI speaks
// (Intl.PluralRules(lang).resolvedOptions().pluralCategories): a catalogue value with
// plural forms has exactly these.
var pluralCategories = map[string][]string{
	"en": {"one", "other"},
	"ko": {"other"},
}

const staticDir = "static"

var (
	// A key in markup: data-i18n="key", data-i18n-placeholder="key", ...
	markupKey = regexp.MustCompile(`data-i18n(?:-[a-z-]+)?="([^"]*)"`)
	// A key in a script: t("key"...), tNodes("key"...).
	scriptKey = regexp.MustCompile(`\b(?:t|tNodes)\(\s*"([^"]*)"`)
	// Any call of the lookups, to find those whose key is not a literal.
	scriptCall = regexp.MustCompile(`\b(?:t|tNodes)\(\s*([^\s)])`)
	// A {name} placeholder in a catalogue value.
	placeholder = regexp.MustCompile(`\{(\w+)\}`)
	// English a script would show without the catalogues: a literal with a letter set as
	// text or an attribute people read, or passed to toast, confirm or prompt.
	literalText = regexp.MustCompile(`\b(?:textContent|alt|title|ariaLabel|placeholder)\s*[:=]\s*"[^"]*[A-Za-z]|\b(?:toast|confirm|prompt)\(\s*"`)
)

// TestCatalogues: every string the web UI shows comes from one catalogue per language
// (static/i18n/<lang>.json). The test fails when a catalogue lacks a key another has,
// when markup or a script uses a key no catalogue has, when a catalogue has a key
// nothing uses, when the languages disagree on a value's placeholders or plural forms,
// and when markup or a script carries text of its own.
func TestCatalogues(t *testing.T) {
	catalogues := readCatalogues(t)
	used := usedKeys(t)

	langs := slices.Sorted(maps.Keys(catalogues))
	if got := declaredLanguages(t); !slices.Equal(slices.Sorted(slices.Values(got)), langs) || len(got) == 0 || got[0] != "en" {
		t.Errorf("i18n.js declares the languages %q; want English first, then every catalogue of %s: %q", got, filepath.Join(staticDir, "i18n"), langs)
	}
	all := map[string]bool{}
	for _, c := range catalogues {
		for k := range c {
			all[k] = true
		}
	}
	for _, lang := range langs {
		for _, k := range slices.Sorted(maps.Keys(all)) {
			if _, ok := catalogues[lang][k]; !ok {
				t.Errorf("%s.json lacks %q", lang, k)
			}
		}
		for _, k := range slices.Sorted(maps.Keys(used)) {
			if _, ok := catalogues[lang][k]; !ok {
				t.Errorf("%s uses %q, which %s.json lacks", used[k], k, lang)
			}
		}
	}
	for _, k := range slices.Sorted(maps.Keys(all)) {
		if used[k] == "" {
			t.Errorf("the catalogues have %q, which no markup or script uses", k)
		}
	}

	// The same placeholders in every language, and each language's plural forms.
	for _, k := range slices.Sorted(maps.Keys(all)) {
		var first string
		var firstNames []string
		for _, lang := range langs {
			v, ok := catalogues[lang][k]
			if !ok {
				continue
			}
			forms := values(t, lang, k, v)
			names := map[string]bool{}
			for _, s := range forms {
				for _, m := range placeholder.FindAllStringSubmatch(s, -1) {
					names[m[1]] = true
				}
			}
			sorted := slices.Sorted(maps.Keys(names))
			if first == "" {
				first, firstNames = lang, sorted
			} else if !slices.Equal(sorted, firstNames) {
				t.Errorf("%q has the placeholders %q in %s, %q in %s", k, firstNames, first, sorted, lang)
			}
		}
	}
}

// values are the texts of a catalogue value: one string, or one per plural form.
func values(t *testing.T, lang, key string, v json.RawMessage) []string {
	t.Helper()
	var s string
	if json.Unmarshal(v, &s) == nil {
		if strings.TrimSpace(s) == "" {
			t.Errorf("%s.json: %q is empty", lang, key)
		}
		return []string{s}
	}
	var forms map[string]string
	if err := json.Unmarshal(v, &forms); err != nil {
		t.Errorf("%s.json: %q is neither a string nor plural forms: %s", lang, key, v)
		return nil
	}
	want, ok := pluralCategories[lang]
	if !ok {
		t.Fatalf("no plural categories for %s: add them to pluralCategories", lang)
	}
	if got := slices.Sorted(maps.Keys(forms)); !slices.Equal(got, want) {
		t.Errorf("%s.json: %q has the plural forms %q, want %s's %q", lang, key, got, lang, want)
	}
	return slices.Collect(maps.Values(forms))
}

func readCatalogues(t *testing.T) map[string]map[string]json.RawMessage {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(staticDir, "i18n", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no catalogues in %s: %v", filepath.Join(staticDir, "i18n"), err)
	}
	out := map[string]map[string]json.RawMessage{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var c map[string]json.RawMessage
		if err := json.Unmarshal(data, &c); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[strings.TrimSuffix(filepath.Base(f), ".json")] = c
	}
	return out
}

// declaredLanguages reads i18n.js's list of languages.
func declaredLanguages(t *testing.T) []string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(staticDir, "i18n.js"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`const languages = \[([^\]]*)\]`).FindSubmatch(src)
	if m == nil {
		t.Fatal("i18n.js has no const languages = [...]")
	}
	var langs []string
	if err := json.Unmarshal([]byte("["+string(m[1])+"]"), &langs); err != nil {
		t.Fatalf("i18n.js languages: %v", err)
	}
	return langs
}

// usedKeys are the keys the markup and the scripts use, each with a file using it. It
// fails the test for text the markup or a script carries itself.
func usedKeys(t *testing.T) map[string]string {
	t.Helper()
	used := map[string]string{}
	files, err := filepath.Glob(filepath.Join(staticDir, "*.*"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(f)
		switch filepath.Ext(f) {
		case ".html":
			checkMarkup(t, name, string(src))
			for _, m := range markupKey.FindAllStringSubmatch(string(src), -1) {
				used[m[1]] = name
			}
		case ".js":
			code := withoutComments(string(src))
			for _, m := range scriptKey.FindAllStringSubmatch(code, -1) {
				used[m[1]] = name
			}
			for _, m := range scriptCall.FindAllStringSubmatch(code, -1) {
				// i18n.js itself looks up the keys the markup names.
				if m[1] != `"` && name != "i18n.js" {
					t.Errorf("%s: %s…: the key must be a literal string, for this test to see it (a table of messages holds functions calling t)", name, m[0])
				}
			}
			for _, m := range literalText.FindAllString(code, -1) {
				t.Errorf("%s: %s…: text people read comes from the catalogues, through t()", name, m)
			}
		}
	}
	if len(used) == 0 {
		t.Fatal("no keys used anywhere: is the pattern stale?")
	}
	return used
}

// withoutComments drops whole-line // comments and the function definitions of the
// lookups, whose parameters are not keys.
func withoutComments(src string) string {
	var b strings.Builder
	for line := range strings.Lines(src) {
		l := strings.TrimSpace(line)
		if strings.HasPrefix(l, "//") || strings.HasPrefix(l, "function t(") || strings.HasPrefix(l, "function tNodes(") {
			continue
		}
		b.WriteString(line)
	}
	return b.String()
}

// checkMarkup fails the test for text in the page that no data-i18n attribute
// supplies: text in an element without data-i18n (but the product's name, the title and
// the language switch's names, each marked with its lang), text inside an element with
// data-i18n (the catalogue's would replace it), and an attribute people read that has
// no data-i18n-<attribute>.
func checkMarkup(t *testing.T, name, src string) {
	t.Helper()
	type element struct {
		tag          string
		i18n, hasLng bool
	}
	var stack []element
	z := html.NewTokenizer(strings.NewReader(src))
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return
		case html.StartTagToken, html.SelfClosingTagToken:
			tok := z.Token()
			e := element{tag: tok.Data}
			attrs := map[string]string{}
			for _, a := range tok.Attr {
				attrs[a.Key] = a.Val
			}
			_, e.i18n = attrs["data-i18n"]
			_, e.hasLng = attrs["lang"]
			for _, a := range []string{"placeholder", "aria-label", "title", "alt"} {
				if v, ok := attrs[a]; ok && v != "" {
					t.Errorf("%s: <%s %s=%q>: use data-i18n-%s with a catalogue key", name, tok.Data, a, v, a)
				}
			}
			if tt == html.StartTagToken && !voidElements[tok.Data] {
				stack = append(stack, e)
			}
		case html.EndTagToken:
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		case html.TextToken:
			text := strings.TrimSpace(string(z.Text()))
			if text == "" || len(stack) == 0 {
				continue
			}
			top := stack[len(stack)-1]
			switch {
			case top.i18n:
				t.Errorf("%s: <%s data-i18n> holds %q: leave it empty, the catalogue fills it", name, top.tag, text)
			case top.tag == "title" || top.hasLng || text == "Sortographer":
			default:
				t.Errorf("%s: <%s> holds %q, which comes from no catalogue: give it data-i18n", name, top.tag, text)
			}
		}
	}
}

var voidElements = map[string]bool{"meta": true, "link": true, "input": true, "img": true, "br": true, "hr": true}
