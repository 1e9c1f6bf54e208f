package store

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Search terms: the words a photo's text is found by, computed here and indexed by
// each database's full-text index as they are (image_texts.search_terms), with a query
// cut into terms the same way. The application, not the database, decides what a word
// is, so that all three databases find the same photos:
//
//   - Text is NFKC-normalised (full-width letters, compatibility jamo) and lower-cased,
//     then cut into runs of letters, digits and marks.
//   - Korean, Chinese and Japanese are not written with spaces between words (and a
//     Korean word carries its particle: 서울에서, "in Seoul"), so a run of Hangul, Han,
//     Hiragana or Katakana is indexed as its single characters and its overlapping
//     pairs of characters (서 울 에 서, 서울 울에 에서). A query word of two characters
//     or more asks for its pairs, all of them (서울 finds 서울에서); of one character,
//     for that character. Any other run is one word.
//   - Every term is written "w_" + the word. MariaDB has no n-gram parser, and InnoDB's
//     full-text parser drops words shorter than innodb_ft_min_token_size (3 by default,
//     a server start-up setting a gallery on a managed or external database cannot
//     change) and its stop words (the, in, of, …): it would lose every Korean pair and
//     words such as "go" or "the". With the prefix every term is at least three
//     characters and none is a stop word, and the same column works on every database.
//     Measured on MariaDB 10.11: "서울" and "go" are not found without it.
//
// A term is cut to maxTermRunes (InnoDB ignores words over innodb_ft_max_token_size,
// 84 characters), at index and query time alike.

// termPrefix starts every stored and queried term.
const termPrefix = "w_"

// maxTermRunes is the longest word kept whole; longer ones are cut.
const maxTermRunes = 40

// MaxTextBytes is the most text stored for one photo; SetLabels cuts longer text at a
// character boundary.
const MaxTextBytes = 16 << 10

// isPaired reports whether r belongs to a script written without spaces between
// words, indexed by character pairs.
func isPaired(r rune) bool {
	return unicode.In(r, unicode.Hangul, unicode.Han, unicode.Hiragana, unicode.Katakana)
}

// wordRuns cuts normalised, lower-cased text into runs of word characters, each run
// either entirely paired-script characters or entirely others.
func wordRuns(s string) (runs []string, paired []bool) {
	s = strings.ToLower(norm.NFKC.String(s))
	start, kind := -1, false
	flush := func(end int) {
		if start >= 0 {
			runs = append(runs, s[start:end])
			paired = append(paired, kind)
		}
		start = -1
	}
	for i, r := range s {
		switch {
		case unicode.IsLetter(r) || unicode.IsNumber(r):
			if k := isPaired(r); start < 0 || k != kind {
				flush(i)
				start, kind = i, k
			}
		case unicode.In(r, unicode.Mn, unicode.Mc, unicode.Me) && start >= 0:
			// A mark belongs to the letter before it.
		default:
			flush(i)
		}
	}
	flush(len(s))
	return runs, paired
}

// cutTerm caps a word at maxTermRunes and prefixes it.
func cutTerm(w string) string {
	if utf8.RuneCountInString(w) > maxTermRunes {
		n := 0
		for i := range w {
			if n == maxTermRunes {
				w = w[:i]
				break
			}
			n++
		}
	}
	return termPrefix + w
}

// textTerms are the distinct terms of a photo's text, in the order they first occur,
// joined by single spaces: what image_texts.search_terms holds.
func textTerms(text string) string {
	seen := map[string]bool{}
	var out []string
	add := func(w string) {
		if t := cutTerm(w); !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	runs, paired := wordRuns(text)
	for i, run := range runs {
		if !paired[i] {
			add(run)
			continue
		}
		rs := []rune(run)
		for _, r := range rs {
			add(string(r))
		}
		for j := 0; j+1 < len(rs); j++ {
			add(string(rs[j : j+2]))
		}
	}
	return strings.Join(out, " ")
}

// queryTerms are the terms a photo's text must all have to match one search term;
// none when the term has no word characters.
func queryTerms(term string) []string {
	seen := map[string]bool{}
	var out []string
	add := func(w string) {
		if t := cutTerm(w); !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	runs, paired := wordRuns(term)
	for i, run := range runs {
		rs := []rune(run)
		if !paired[i] || len(rs) == 1 {
			add(run)
			continue
		}
		for j := 0; j+1 < len(rs); j++ {
			add(string(rs[j : j+2]))
		}
	}
	return out
}

// cleanText makes a photo's text storable on every database: valid UTF-8 without NUL
// (PostgreSQL refuses both in text), cut at MaxTextBytes on a character boundary.
func cleanText(s string) string {
	s = strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", ""), "")
	if len(s) <= MaxTextBytes {
		return s
	}
	i := MaxTextBytes
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i]
}
