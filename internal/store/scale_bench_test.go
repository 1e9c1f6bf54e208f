package store

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sortographer/sortographer/internal/testservers"
)

var (
	scaleImages = flag.Int("scale.images", 100_000, "images loaded for BenchmarkScale (10 labels each)")
	scalePlans  = flag.Bool("scale.plans", false, "log the query plan of every measured query")
)

// Scale of BenchmarkScale's data set: 10 labels an image drawn by Zipf's law from 500
// names (a few labels are on most photos, most are rare, as with real classifiers),
// and five users of whom the first owns 60% of the images.
const (
	scaleLabelNames    = 500
	scaleLabelsPerImg  = 10
	scaleUsers         = 5
	scaleBigUserShare  = 0.6
	scaleInsertBatch   = 1000
	scaleDeepPageLimit = 50
)

// BenchmarkScale: listing and search with 100,000 images and 1,000,000 labels (and,
// for Search, a parent label on the rank 2 label's images and a text on 10% of
// images), on
// MariaDB and on PostgreSQL, through the store's own queries. The rows are bulk-loaded
// straight into the migrated schema with multi-row INSERTs. Each sub-benchmark reports
// the p50 and p99 of one query over its iterations, for the big user:
//
//	list-first        the first page of 50, newest first
//	list-deep         pages 50 to 600 in, by cursor (image 2,500 to 30,000)
//	search-common     one label on most images (Zipf rank 1)
//	search-deep       that label's pages 50 to 600 in, by cursor
//	search-rare       one label on about 0.3% of images (rank 200)
//	search-and-common two common labels (ranks 1 and 2)
//	search-and-rare   a common label and a rare one (ranks 1 and 200), in that order
//	search-and-rare-first the same two, the rare one first
//	label-counts      every label with its image count
//	find-common       Search (labels, parents, text) of the rank 1 label
//	find-deep         its pages 50 to 600 in, by cursor
//	find-rare         Search of the rank 200 label
//	find-and-common   Search of the rank 1 and 2 labels
//	find-and-rare     Search of the rank 1 and 200 labels
//	find-parent       Search of a word only ever a parent (derived from the rank 2
//	                  label): no MatchLabel row, all MatchParent
//	find-text-rare    Search of a word in about 0.2% of texts (0.02% of images)
//	find-text-common  Search of a word in every text (10% of images): sorts them all
//	find-label-text   Search of the rank 1 label and a word in about 5% of texts
//	page-labels-each  the labels of the first page's 50 images, one image at a time
//	page-labels-batch the same labels in one LabelsOfImages
//
// go test ./internal/store -run '^$' -bench Scale [-scale.images=N] [-scale.plans]
func BenchmarkScale(b *testing.B) {
	for _, be := range serverDatabases {
		b.Run(be.name, func(b *testing.B) {
			ctx := context.Background()
			s := open(b, be.db(b).Config(), "")
			if err := s.Migrate(ctx); err != nil {
				b.Fatal(err)
			}
			started := time.Now()
			big, names, err := loadScale(ctx, s, *scaleImages)
			if err != nil {
				b.Fatal(err)
			}
			b.Logf("%s: loaded %d images and %d labels in %v", be.name, *scaleImages, *scaleImages*scaleLabelsPerImg, time.Since(started).Round(time.Second))
			for _, term := range []string{names[0], names[1], scaleParent, names[199], scaleEveryText, scaleWord(5), scaleWord(120)} {
				p, err := s.Search(ctx, big, []string{term}, PageRequest{Limit: MaxPageSize})
				for err == nil && p.Next != "" && len(p.Results) < 200_000 {
					var more SearchPage
					more, err = s.Search(ctx, big, []string{term}, PageRequest{Limit: MaxPageSize, Cursor: p.Next})
					p.Results, p.Next = append(p.Results, more.Results...), more.Next
				}
				if err != nil {
					b.Fatal(err)
				}
				b.Logf("%s: the big user's search for %s finds %d images", be.name, term, len(p.Results))
			}

			first, err := s.ListImages(ctx, big, PageRequest{Limit: DefaultPageSize})
			if err != nil {
				b.Fatal(err)
			}
			firstIDs := ids(first.Images)
			cursors := deepCursors(b, s, big, nil)
			searchCursors := deepCursors(b, s, big, names[:1])
			findCursors := deepFindCursors(b, s, big, names[0])
			page := PageRequest{Limit: DefaultPageSize}
			queries := []struct {
				name string
				run  func(i int) error
				plan func() (string, []any)
			}{
				{"list-first", func(int) error { _, err := s.ListImages(ctx, big, page); return err }, nil},
				{"list-deep", func(i int) error {
					_, err := s.ListImages(ctx, big, PageRequest{Limit: DefaultPageSize, Cursor: cursors[i%len(cursors)]})
					return err
				}, nil},
				{"search-common", searchOf(ctx, s, big, names[0]), nil},
				{"search-deep", func(i int) error {
					_, err := s.SearchByLabels(ctx, big, names[:1], PageRequest{Limit: DefaultPageSize, Cursor: searchCursors[i%len(searchCursors)]})
					return err
				}, nil},
				{"search-rare", searchOf(ctx, s, big, names[199]), nil},
				{"search-and-common", searchOf(ctx, s, big, names[0], names[1]), nil},
				{"search-and-rare", searchOf(ctx, s, big, names[0], names[199]), nil},
				{"search-and-rare-first", searchOf(ctx, s, big, names[199], names[0]), nil},
				{"label-counts", func(int) error { _, err := s.LabelCounts(ctx, big); return err }, nil},
				{"find-common", findOf(ctx, s, big, names[0]), nil},
				{"find-deep", func(i int) error {
					_, err := s.Search(ctx, big, names[:1], PageRequest{Limit: DefaultPageSize, Cursor: findCursors[i%len(findCursors)]})
					return err
				}, nil},
				{"find-rare", findOf(ctx, s, big, names[199]), nil},
				{"find-and-common", findOf(ctx, s, big, names[0], names[1]), nil},
				{"find-and-rare", findOf(ctx, s, big, names[0], names[199]), nil},
				{"find-parent", findOf(ctx, s, big, scaleParent), nil},
				{"find-text-rare", findOf(ctx, s, big, scaleWord(120)), nil},
				{"find-text-common", findOf(ctx, s, big, scaleEveryText), nil},
				{"find-label-text", findOf(ctx, s, big, names[0], scaleWord(5)), nil},
				{"page-labels-each", func(int) error {
					for _, id := range firstIDs {
						if _, err := s.ImageLabels(ctx, big, id); err != nil {
							return err
						}
					}
					return nil
				}, nil},
				{"page-labels-batch", func(int) error {
					l, err := s.LabelsOfImages(ctx, big, firstIDs)
					if err == nil && len(l) != len(firstIDs) {
						err = fmt.Errorf("labels of %d images of %d", len(l), len(firstIDs))
					}
					return err
				}, nil},
			}
			for _, q := range queries {
				b.Run(q.name, func(b *testing.B) { benchLatency(b, q.run) })
			}
			if *scalePlans {
				logPlans(b, s, big, names, cursors[len(cursors)-1], firstIDs)
			}
		})
	}
}

func searchOf(ctx context.Context, s *sqlStore, owner int64, labels ...string) func(int) error {
	return func(int) error {
		p, err := s.SearchByLabels(ctx, owner, labels, PageRequest{Limit: DefaultPageSize})
		if err == nil && len(p.Images) == 0 {
			err = fmt.Errorf("search %v found nothing", labels)
		}
		return err
	}
}

func findOf(ctx context.Context, s *sqlStore, owner int64, terms ...string) func(int) error {
	return func(int) error {
		p, err := s.Search(ctx, owner, terms, PageRequest{Limit: DefaultPageSize})
		if err == nil && len(p.Results) == 0 {
			err = fmt.Errorf("search %v found nothing", terms)
		}
		return err
	}
}

// deepFindCursors walks the big user's Search of term from page 50 to page 600 and
// returns the cursors of those pages.
func deepFindCursors(b *testing.B, s *sqlStore, owner int64, term string) []string {
	b.Helper()
	var out []string
	next := ""
	for n := 0; n < 600; n++ {
		p, err := s.Search(context.Background(), owner, []string{term}, PageRequest{Limit: scaleDeepPageLimit, Cursor: next})
		if err != nil {
			b.Fatal(err)
		}
		if p.Next == "" {
			break
		}
		next = p.Next
		if n >= 50 {
			out = append(out, next)
		}
	}
	if len(out) == 0 {
		b.Fatal("the big user's search has fewer than 50 pages")
	}
	return out
}

// The parent label and the words of BenchmarkScale's texts.
const (
	// scaleParent is derived from the rank 2 label on every image carrying it.
	scaleParent = "parent-of-001"
	// One image in scaleTextShare has a text: scaleEveryText (in a longer word), and
	// two words drawn by Zipf's law from scaleWords (scaleWord(5) is in about 5% of
	// texts, scaleWord(120) in about 0.2%).
	scaleTextShare = 10
	scaleEveryText = "서울"
	scaleWords     = 500
)

func scaleWord(rank int) string { return fmt.Sprintf("word%03d", rank) }

// deepCursors walks the big user's listing (or search, with labels) from page 50 to page
// 600 and returns the cursors of those pages.
func deepCursors(b *testing.B, s *sqlStore, owner int64, labels []string) []string {
	b.Helper()
	var out []string
	next := ""
	for n := 0; n < 600; n++ {
		page := PageRequest{Limit: scaleDeepPageLimit, Cursor: next}
		var p Page
		var err error
		if labels == nil {
			p, err = s.ListImages(context.Background(), owner, page)
		} else {
			p, err = s.SearchByLabels(context.Background(), owner, labels, page)
		}
		if err != nil {
			b.Fatal(err)
		}
		if p.Next == "" {
			break
		}
		next = p.Next
		if n >= 50 {
			out = append(out, next)
		}
	}
	if len(out) == 0 {
		b.Fatal("the big user has fewer than 50 pages")
	}
	return out
}

// loadScale inserts n images and 10n labels and returns the big user's id and the
// label names, most common first.
func loadScale(ctx context.Context, s *sqlStore, n int) (int64, []string, error) {
	var users []int64
	for i := range scaleUsers {
		u, err := s.CreateUser(ctx, NewUser{Email: fmt.Sprintf("scale%d@example.com", i), PasswordHash: "x"})
		if err != nil {
			return 0, nil, err
		}
		users = append(users, u.ID)
	}
	names := make([]string, scaleLabelNames)
	for i := range names {
		names[i] = fmt.Sprintf("label-%03d", i)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	zipf := rand.NewZipf(rand.New(rand.NewPCG(3, 4)), 1.1, 1, scaleLabelNames-1)
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	words := rand.NewZipf(rand.New(rand.NewPCG(5, 6)), 1.1, 1, scaleWords-1)
	var imgs, labels, texts strings.Builder
	flush := func() error {
		for _, sb := range []*strings.Builder{&imgs, &labels, &texts} {
			if sb.Len() == 0 {
				continue
			}
			if _, err := s.db.ExecContext(ctx, sb.String()); err != nil {
				return fmt.Errorf("bulk insert: %w", err)
			}
			sb.Reset()
		}
		return nil
	}
	rows := 0
	for i := range n {
		owner := users[0]
		if rng.Float64() >= scaleBigUserShare {
			owner = users[1+rng.IntN(scaleUsers-1)]
		}
		id := fmt.Sprintf("%032x", i+1)
		created := base + int64(i)*1_000_000 // one a second, in order
		if imgs.Len() == 0 {
			imgs.WriteString("INSERT INTO images (id, owner_id, object_key, thumbnail_key, content_type, size_bytes, width, height, sha256, content_key, created_at, status, queued_at, labelled_at, provider, model) VALUES ")
		} else {
			imgs.WriteByte(',')
		}
		fmt.Fprintf(&imgs, "('%s',%d,'images/%d/%s','thumbs/%d/%s','image/jpeg',1000000,1600,1200,'%064x','%064x',%d,'labelled',%d,%d,'bench','bench')",
			id, owner, owner, id, owner, id, i+1, i+1, created, created, created+1000)
		chosen := map[int]bool{}
		for len(chosen) < scaleLabelsPerImg {
			chosen[int(zipf.Uint64())] = true
		}
		for k := range chosen {
			if labels.Len() == 0 {
				labels.WriteString("INSERT INTO labels (image_id, name, owner_id, image_created_at, confidence, provider, model, derived_from) VALUES ")
			} else {
				labels.WriteByte(',')
			}
			fmt.Fprintf(&labels, "('%s','%s',%d,%d,%.1f,'bench','bench','')", id, names[k], owner, created, 50+rng.Float64()*50)
		}
		if chosen[1] {
			fmt.Fprintf(&labels, ",('%s','%s',%d,%d,%.1f,'bench','bench','%s')", id, scaleParent, owner, created, 75.0, names[1])
		}
		if i%scaleTextShare == 0 {
			content := fmt.Sprintf("%s %s 서울에서 만나요", scaleWord(int(words.Uint64())), scaleWord(int(words.Uint64())))
			if texts.Len() == 0 {
				texts.WriteString("INSERT INTO image_texts (image_id, owner_id, image_created_at, content, search_terms, confidence, provider, model, read_at) VALUES ")
			} else {
				texts.WriteByte(',')
			}
			fmt.Fprintf(&texts, "('%s',%d,%d,'%s','%s',90,'bench','bench',%d)", id, owner, created, content, textTerms(content), created+1000)
		}
		rows++
		if rows == scaleInsertBatch {
			if err := flush(); err != nil {
				return 0, nil, err
			}
			rows = 0
		}
	}
	if err := flush(); err != nil {
		return 0, nil, err
	}
	// Fresh statistics (and PostgreSQL's visibility map, for index-only scans), as
	// autovacuum and InnoDB keep them in a database that grew to this size.
	analyze := "ANALYZE TABLE images, labels, image_texts"
	if s.d.numbered {
		analyze = "VACUUM ANALYZE images, labels, image_texts"
	}
	if _, err := s.db.ExecContext(ctx, analyze); err != nil {
		return 0, nil, fmt.Errorf("analyze: %w", err)
	}
	return users[0], names, nil
}

// logPlans logs the database's plan for the measured queries.
func logPlans(b *testing.B, s *sqlStore, owner int64, names []string, deepCursor string, pageIDs []string) {
	deep, err := decodeCursor(deepCursor)
	if err != nil {
		b.Fatal(err)
	}
	explain, join := "EXPLAIN ", "STRAIGHT_JOIN" // as SearchByLabels
	if s.d.numbered {
		explain, join = "EXPLAIN ANALYZE ", "JOIN"
	}
	plan := planOf(b, s, explain)
	for _, q := range []struct {
		name, query string
		args        []any
	}{
		{"list-first", "SELECT id FROM images WHERE owner_id = ? ORDER BY created_at DESC, id DESC LIMIT 51", []any{owner}},
		{"list-deep", "SELECT id FROM images WHERE owner_id = ? AND created_at <= ? AND (created_at < ? OR id < ?) ORDER BY created_at DESC, id DESC LIMIT 51", []any{owner, deep.createdAt, deep.createdAt, deep.id}},
		{"search-and-common", "SELECT i.id FROM labels l " + join + " images i ON i.id = l.image_id WHERE l.owner_id = ? AND l.name = ? AND EXISTS (SELECT 1 FROM labels x WHERE x.image_id = l.image_id AND x.name = ?) ORDER BY l.image_created_at DESC, l.image_id DESC LIMIT 51", []any{owner, names[0], names[1]}},
		{"search-and-rare", "SELECT i.id FROM labels l " + join + " images i ON i.id = l.image_id WHERE l.owner_id = ? AND l.name = ? AND EXISTS (SELECT 1 FROM labels x WHERE x.image_id = l.image_id AND x.name = ?) ORDER BY l.image_created_at DESC, l.image_id DESC LIMIT 51", []any{owner, names[0], names[199]}},
		{"label-counts", "SELECT name, COUNT(*) AS images FROM labels WHERE owner_id = ? GROUP BY name ORDER BY images DESC, name", []any{owner}},
		{"page-labels-batch", "SELECT image_id, name, confidence, categories, provider, model FROM labels WHERE owner_id = ? AND image_id IN (" +
			placeholders(len(pageIDs)) + ") ORDER BY image_id, confidence DESC, name", append([]any{owner}, anys(pageIDs)...)},
	} {
		plan(q.name, q.query, q.args)
	}
	// Search's queries, one per rank, as it makes them.
	for _, f := range []struct {
		name  string
		terms []string
	}{
		{"find-parent", []string{scaleParent}},
		{"find-text-common", []string{scaleEveryText}},
		{"find-label-text", []string{scaleWord(5), names[0]}},
	} {
		terms, err := parseTerms(f.terms)
		if err != nil {
			b.Fatal(err)
		}
		for rank := MatchLabel; rank <= MatchText; rank++ {
			if q, args := s.rankQuery(owner, terms, rank, nil, DefaultPageSize+1); q != "" {
				plan(f.name+" "+rank.String(), q, args)
			}
		}
	}
}

// planOf logs the database's plan for one query.
func planOf(b *testing.B, s *sqlStore, explain string) func(name, query string, args []any) {
	return func(name, query string, args []any) {
		rows, err := s.db.Query(explain+s.d.rebind(query), args...)
		if err != nil {
			b.Errorf("explain %s: %v", name, err)
			return
		}
		b.Logf("plan of %s:\n%s", name, dumpRows(rows))
	}
}

func anys(ss []string) []any {
	out := make([]any, len(ss))
	for i, v := range ss {
		out[i] = v
	}
	return out
}

func dumpRows(rows *sql.Rows) string {
	defer rows.Close()
	cols, _ := rows.Columns()
	var out strings.Builder
	out.WriteString(strings.Join(cols, " | ") + "\n")
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		_ = rows.Scan(ptrs...)
		for i, v := range vals {
			if i > 0 {
				out.WriteString(" | ")
			}
			out.WriteString(v.String)
		}
		out.WriteByte('\n')
	}
	return out.String()
}

// serverDatabases are the engines the benchmarks measure.
var serverDatabases = []struct {
	name string
	db   func(testing.TB) testservers.Database
}{{"mariadb", testservers.MariaDB}, {"postgres", testservers.Postgres}}

// benchLatency runs query i on the i-th iteration and reports its p50 and p99.
func benchLatency(b *testing.B, query func(i int) error) {
	var took []time.Duration
	i := 0
	for b.Loop() {
		t0 := time.Now()
		if err := query(i); err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(t0))
		i++
	}
	b.ReportMetric(ms(pct(took, 50)), "p50-ms")
	b.ReportMetric(ms(pct(took, 99)), "p99-ms")
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// pct is the nearest-rank percentile p of ds.
func pct(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}
