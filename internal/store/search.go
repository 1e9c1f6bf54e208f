package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// Search: one query box over labels, their parents and the words in photos. Each term
// matches a photo in one of three ways, best first:
//
//	MatchLabel   the classifier gave the photo a label that is the term
//	MatchParent  the term is a broader label derived from one it gave (animal, for cat)
//	MatchText    the photo's text has every word of the term (terms.go)
//
// A photo must match every term (AND, as SearchByLabels), and ranks by its weakest
// term: all by MatchLabel first, then photos needing a parent, then photos needing
// their text. Within a rank, newest first.
//
// Each rank is its own query, run in turn until the page is full, so a page reads
// about as many rows as it shows: the first two ranks are ordered range scans of
// labels_rank (the first term's name with derived_from '' for MatchLabel; the other
// names probed by primary key), as SearchByLabels scans labels_search; the third
// starts from the full-text index's matches of the terms, which it sorts. The cursor
// holds the rank of the last row shown (rankedCursor), and a page starts in that rank,
// after that row.

// MatchKind is how a search term matched a photo, the best first.
type MatchKind int

// How a term matches.
const (
	// MatchLabel: the classifier gave the photo a label that is the term.
	MatchLabel MatchKind = iota
	// MatchParent: the term is a broader label derived from one the classifier gave.
	MatchParent
	// MatchText: the photo's text has every word of the term.
	MatchText
)

func (k MatchKind) String() string {
	switch k {
	case MatchLabel:
		return "label"
	case MatchParent:
		return "parent"
	case MatchText:
		return "text"
	}
	return fmt.Sprintf("MatchKind(%d)", int(k))
}

// SearchResult is a photo found by Search.
type SearchResult struct {
	Image Image
	// Rank is the weakest of the terms' best matches.
	Rank MatchKind
}

// SearchPage is one page of Search.
type SearchPage struct {
	Results []SearchResult
	// Next is the cursor of the following page; empty on the last page.
	Next string
}

// searchTerm is one term of a search: the label name it equals and the text terms a
// photo's text must all have (none: the term has no word to look for in text).
type searchTerm struct {
	label string
	text  []string
}

// parseTerms normalises a search's terms, dropping empty ones and repeats.
func parseTerms(raw []string) ([]searchTerm, error) {
	seen := map[string]bool{}
	var terms []searchTerm
	for _, r := range raw {
		n := normaliseLabel(strings.Join(strings.Fields(r), " "))
		if n == "" || seen[n] {
			continue
		}
		seen[n] = true
		terms = append(terms, searchTerm{label: n, text: queryTerms(n)})
	}
	if len(terms) == 0 {
		return nil, errors.New("no search terms given")
	}
	if len(terms) > maxSearchLabels {
		return nil, fmt.Errorf("at most %d search terms, not %d", maxSearchLabels, len(terms))
	}
	return terms, nil
}

func (s *sqlStore) Search(ctx context.Context, ownerID int64, raw []string, page PageRequest) (SearchPage, error) {
	terms, err := parseTerms(raw)
	if err != nil {
		return SearchPage{}, fmt.Errorf("search images: %w", err)
	}
	limit, after, err := rankedPageBounds(page)
	if err != nil {
		return SearchPage{}, fmt.Errorf("search images: %w", err)
	}
	db := s.reader(ctx)
	start := MatchLabel
	if after != nil {
		start = after.rank
	}
	if len(terms) > 1 && start < MatchText {
		if terms, err = rarestTermFirst(ctx, db, s.d, ownerID, terms); err != nil {
			return SearchPage{}, fmt.Errorf("search images: %w", err)
		}
	}
	var rows []rankedRow
	for rank := start; rank <= MatchText && len(rows) <= limit; rank++ {
		var from *cursor
		if after != nil && rank == after.rank {
			from = &after.cursor
		}
		q, args := s.rankQuery(ownerID, terms, rank, from, limit+1-len(rows))
		if q == "" {
			continue
		}
		got, err := queryRanked(ctx, db, s.d.rebind(q), args, rank)
		if err != nil {
			return SearchPage{}, fmt.Errorf("search images (%s matches): %w", rank, err)
		}
		rows = append(rows, got...)
	}
	return toSearchPage(rows, limit), nil
}

// rarestTermFirst puts the term whose label is on the fewest of owner's images first,
// as SearchByLabels does (rarestFirst): the label ranks scan the first term's rows.
func rarestTermFirst(ctx context.Context, db *sql.DB, d dialect, ownerID int64, terms []searchTerm) ([]searchTerm, error) {
	names := make([]string, len(terms))
	for i, t := range terms {
		names[i] = t.label
	}
	names, err := rarestFirst(ctx, db, d, ownerID, names)
	if err != nil {
		return nil, err
	}
	out := slices.Clone(terms)
	slices.SortStableFunc(out, func(a, b searchTerm) int {
		return cmp.Compare(slices.Index(names, a.label), slices.Index(names, b.label))
	})
	return out, nil
}

// labelOn and directLabelOn are true when the image (the column named) carries the
// label, or carries it as the classifier's own.
const (
	labelOn       = "EXISTS (SELECT 1 FROM labels x WHERE x.image_id = %s AND x.name = ?)"
	directLabelOn = "EXISTS (SELECT 1 FROM labels x WHERE x.image_id = %s AND x.name = ? AND x.derived_from = '')"
)

// rankQuery is the query of one rank's rows after from (nil: from the top), at most n;
// empty when the rank can have none.
func (s *sqlStore) rankQuery(ownerID int64, terms []searchTerm, rank MatchKind, from *cursor, n int) (string, []any) {
	if rank == MatchText {
		return s.textRankQuery(ownerID, terms, from, n)
	}
	// The first term's rows drive, in labels_rank (MatchLabel) or labels_search order;
	// the other terms are primary-key probes (as SearchByLabels).
	join := cmp.Or(s.d.labelsFirstJoin, "JOIN")
	q := "SELECT " + prefixed("i") + " FROM labels l " + join + " images i ON i.id = l.image_id WHERE l.owner_id = ? AND l.name = ?"
	args := []any{ownerID, terms[0].label}
	rest := terms[1:]
	if rank == MatchLabel {
		q += " AND l.derived_from = ''"
		for _, t := range rest {
			q += " AND " + fmt.Sprintf(directLabelOn, "l.image_id")
			args = append(args, t.label)
		}
	} else {
		for _, t := range rest {
			q += " AND " + fmt.Sprintf(labelOn, "l.image_id")
			args = append(args, t.label)
		}
		// Not every term the classifier's own label: that photo is in MatchLabel.
		if len(rest) == 0 {
			q += " AND l.derived_from <> ''"
		} else {
			q += " AND (l.derived_from <> '' OR EXISTS (SELECT 1 FROM labels x WHERE x.image_id = l.image_id AND x.name IN (" + placeholders(len(rest)) + ") AND x.derived_from <> ''))"
			for _, t := range rest {
				args = append(args, t.label)
			}
		}
	}
	if from != nil {
		q += " AND l.image_created_at <= ? AND (l.image_created_at < ? OR l.image_id < ?)" // see ListImages
		args = append(args, from.createdAt, from.createdAt, from.id)
	}
	q += " ORDER BY l.image_created_at DESC, l.image_id DESC LIMIT ?"
	return q, append(args, n)
}

// textRankQuery is rankQuery for MatchText: photos whose text has some term's words,
// every term matched by a label or by text, and some term by text alone. The rows are
// chosen, ordered and cut to n in the copied columns of image_texts and labels (joined
// by primary key, each at most one row: no repeats), and only the page's images are
// read: MariaDB took 52 ms for a word in 1,800 of a user's texts with a NOT EXISTS per
// row and the images sorted whole, 10 ms this way (BenchmarkScale, find-text-common).
func (s *sqlStore) textRankQuery(ownerID int64, terms []searchTerm, from *cursor, n int) (string, []any) {
	var found []string
	var args []any
	for _, t := range terms {
		if len(t.text) > 0 {
			q, a := s.d.textMatch(ownerID, t.text)
			found = append(found, q)
			args = append(args, a...)
		}
	}
	if len(found) == 0 {
		return "", nil
	}
	q := "SELECT c.image_id, c.image_created_at FROM (" + strings.Join(found, " UNION ") + ") c"
	var where, unlabelled []string
	for k, t := range terms {
		x := fmt.Sprintf("x%d", k)
		q += fmt.Sprintf(" LEFT JOIN labels %s ON %s.image_id = c.image_id AND %s.name = ?", x, x, x)
		args = append(args, t.label)
		unlabelled = append(unlabelled, x+".image_id IS NULL")
		switch {
		case len(terms) == 1:
			// Its text matched: it is one of found.
		case len(t.text) == 0:
			where = append(where, x+".image_id IS NOT NULL")
		default:
			m, a := s.d.textMatch(ownerID, t.text)
			tk := fmt.Sprintf("t%d", k)
			q += fmt.Sprintf(" LEFT JOIN (%s) %s ON %s.image_id = c.image_id", m, tk, tk)
			args = append(args, a...)
			where = append(where, fmt.Sprintf("(%s.image_id IS NOT NULL OR %s.image_id IS NOT NULL)", x, tk))
		}
	}
	// Not every term a label: that photo is in an earlier rank.
	where = append(where, "("+strings.Join(unlabelled, " OR ")+")")
	if from != nil {
		where = append(where, "c.image_created_at <= ? AND (c.image_created_at < ? OR c.image_id < ?)")
		args = append(args, from.createdAt, from.createdAt, from.id)
	}
	q += " WHERE " + strings.Join(where, " AND ") + " ORDER BY c.image_created_at DESC, c.image_id DESC LIMIT ?"
	args = append(args, n)
	join := cmp.Or(s.d.labelsFirstJoin, "JOIN")
	return "SELECT " + prefixed("i") + " FROM (" + q + ") p " + join + " images i ON i.id = p.image_id ORDER BY i.created_at DESC, i.id DESC", args
}

// rankedRow is a found image and its rank.
type rankedRow struct {
	img  Image
	rank MatchKind
}

func queryRanked(ctx context.Context, db *sql.DB, q string, args []any, rank MatchKind) ([]rankedRow, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return scanAll(rows, func(row rowScanner) (rankedRow, error) {
		img, err := scanImage(row)
		return rankedRow{img: img, rank: rank}, err
	})
}

// toSearchPage makes a page of the rows of a search that asked for limit+1.
func toSearchPage(rows []rankedRow, limit int) SearchPage {
	shown := rows[:min(len(rows), limit)]
	p := SearchPage{Results: make([]SearchResult, len(shown))}
	for i, r := range shown {
		p.Results[i] = SearchResult{Image: r.img, Rank: r.rank}
	}
	if len(rows) > limit {
		last := shown[limit-1]
		p.Next = encodeRankedCursor(rankedCursor{rank: last.rank, cursor: cursor{createdAt: micros(last.img.CreatedAt), id: last.img.ID}})
	}
	return p
}

// The full-text match of each database: a query of the ids (and times) of owner's
// images whose text has every one of terms (terms.go), with its arguments. The terms hold only
// letters, digits, marks and '_', so quoting them needs no escapes; quote removes any
// quote character all the same.

func quoteTerms(terms []string, open, close, sep string) string {
	clean := strings.NewReplacer(`"`, "", `'`, "", `\`, "")
	var b strings.Builder
	for i, t := range terms {
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteString(open + clean.Replace(t) + close)
	}
	return b.String()
}

// mysqlTextMatch: InnoDB's FULLTEXT index in boolean mode, every term required.
func mysqlTextMatch(ownerID int64, terms []string) (string, []any) {
	return "SELECT image_id, image_created_at FROM image_texts WHERE MATCH (search_terms) AGAINST (? IN BOOLEAN MODE) AND owner_id = ?",
		[]any{quoteTerms(terms, `+"`, `"`, " "), ownerID}
}

// postgresTextMatch: the GIN index of the terms' tsvector (the expression must be the
// index's, word for word), and a tsquery of the terms joined by &.
func postgresTextMatch(ownerID int64, terms []string) (string, []any) {
	return "SELECT image_id, image_created_at FROM image_texts WHERE owner_id = ? AND array_to_tsvector(string_to_array(search_terms, ' ')) @@ CAST(? AS tsquery)",
		[]any{ownerID, quoteTerms(terms, "'", "'", " & ")}
}

// sqliteTextMatch: the FTS5 table, every term a phrase (adjacent phrases must all
// match), joined to image_texts by rowid.
func sqliteTextMatch(ownerID int64, terms []string) (string, []any) {
	return "SELECT image_id, image_created_at FROM image_texts WHERE owner_id = ? AND rowid IN (SELECT rowid FROM image_texts_fts WHERE image_texts_fts MATCH ?)",
		[]any{ownerID, quoteTerms(terms, `"`, `"`, " ")}
}

// TermMatch is how one search term matched a photo, for showing why it was found.
type TermMatch struct {
	// Term is the term, normalised as Search reads it.
	Term string
	Kind MatchKind
	// Label is the label that matched (MatchLabel, MatchParent); From is the label it
	// was derived from (MatchParent).
	Label, From string
	// Snippet is the line of the photo's text holding the term's words, cut to about
	// snippetRunes characters around them (MatchText).
	Snippet string
}

// snippetRunes is about the longest snippet ExplainMatch returns.
const snippetRunes = 120

// ExplainMatch says how term matches a photo with these labels and this text, by the
// same rules as Search: its best match, or false when it does not match (the photo
// changed since it was found).
func ExplainMatch(term string, labels []Label, text string) (TermMatch, bool) {
	terms, err := parseTerms([]string{term})
	if err != nil {
		return TermMatch{}, false
	}
	t := terms[0]
	m := TermMatch{Term: t.label}
	for _, l := range labels {
		if l.Name == t.label {
			m.Label, m.From, m.Kind = l.Name, l.DerivedFrom, MatchLabel
			if l.DerivedFrom != "" {
				m.Kind = MatchParent
			}
			return m, true
		}
	}
	if len(t.text) == 0 || !hasTerms(textTerms(text), t.text) {
		return TermMatch{}, false
	}
	m.Kind, m.Snippet = MatchText, snippet(text, t.text)
	return m, true
}

// hasTerms reports whether the space-separated terms have every one of want.
func hasTerms(terms string, want []string) bool {
	have := map[string]bool{}
	for _, t := range strings.Fields(terms) {
		have[t] = true
	}
	for _, w := range want {
		if !have[w] {
			return false
		}
	}
	return true
}

// snippet is the line of text with the most of want's words (the first of those), cut
// around the first of them when it is long.
func snippet(text string, want []string) string {
	best, bestN := "", 0
	for line := range strings.SplitSeq(text, "\n") {
		have := strings.Fields(textTerms(line))
		n := 0
		for _, w := range want {
			if slices.Contains(have, w) {
				n++
			}
		}
		if n > bestN {
			best, bestN = line, n
		}
	}
	best = strings.TrimSpace(best)
	runes := []rune(best)
	if len(runes) <= snippetRunes {
		return best
	}
	// Where the first word is, in the line as the terms see it (NFKC rarely changes
	// how many characters there are; this is a place to cut, not an offset to trust).
	at := 0
	if folded := []rune(strings.ToLower(best)); len(folded) == len(runes) {
		word := strings.TrimPrefix(want[0], termPrefix)
		if i := strings.Index(string(folded), word); i >= 0 {
			at = utf8.RuneCountInString(string(folded)[:i])
		}
	}
	start := max(0, min(at-snippetRunes/3, len(runes)-snippetRunes))
	out := string(runes[start : start+snippetRunes])
	if start > 0 {
		out = "…" + out
	}
	if start+snippetRunes < len(runes) {
		out += "…"
	}
	return out
}
