package store

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// Labels: what a classifier saw in an image, written by SetLabels, read per image
// (ImageLabels, and LabelsOfImages in labels_batch.go), searched and counted. Each label
// row copies its image's owner and upload time, so that search and counts read labels
// alone.

func normaliseLabel(name string) string { return strings.ToLower(strings.TrimSpace(name)) }

func (s *sqlStore) SetLabels(ctx context.Context, imageID string, c Classification) error {
	labels := normaliseLabels(c)
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		// Locking the image row serialises two deliveries of the same job, and a delete.
		var ownerID, created int64
		var status string
		err := tx.QueryRowContext(ctx, s.d.rebind("SELECT owner_id, created_at, status FROM images WHERE id = ?"+s.d.forUpdate), imageID).Scan(&ownerID, &created, &status)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if status != string(StatusQueued) && !c.Reclassify {
			return ErrAlreadyLabelled
		}
		if _, err := tx.ExecContext(ctx, s.d.rebind("DELETE FROM labels WHERE image_id = ?"), imageID); err != nil {
			return err
		}
		for _, l := range labels {
			cats, err := json.Marshal(l.Categories)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, s.d.rebind("INSERT INTO labels (image_id, name, owner_id, image_created_at, confidence, categories, provider, model, derived_from) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"),
				imageID, l.Name, ownerID, created, l.Confidence, string(cats), l.Provider, l.Model, l.DerivedFrom); err != nil {
				return err
			}
		}
		if c.Text != nil {
			if err := s.setText(ctx, tx, imageID, ownerID, created, *c.Text); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, s.d.rebind("UPDATE images SET status = ?, failure_reason = '', labelled_at = ?, provider = ?, model = ? WHERE id = ?"),
			string(StatusLabelled), time.Now().UnixMicro(), c.Provider, c.Model, imageID)
		return err
	})
	if err != nil {
		return fmt.Errorf("set labels of image %s: %w", imageID, err)
	}
	return nil
}

// normaliseLabels lower-cases names and keeps one label per name, the most confident,
// as classifiers sometimes repeat a name under different parents; then adds each
// parent that is not a label itself as a derived label (withParents).
func normaliseLabels(c Classification) []Label {
	byName := map[string]Label{}
	for _, l := range c.Labels {
		l.Name = normaliseLabel(l.Name)
		if l.Name == "" {
			continue
		}
		if l.Provider == "" {
			l.Provider = c.Provider
		}
		if l.Model == "" {
			l.Model = c.Model
		}
		if l.Categories == nil {
			l.Categories = []string{}
		}
		if prev, ok := byName[l.Name]; !ok || l.Confidence > prev.Confidence {
			byName[l.Name] = l
		}
	}
	out := make([]Label, 0, len(byName))
	for _, l := range byName {
		out = append(out, l)
	}
	out = withParents(out)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// withParents adds, for each parent of the labels that is not a label already, one
// derived label: from the most confident child (the first name on a tie), with its
// confidence, provider and model.
func withParents(labels []Label) []Label {
	seen := make(map[string]bool, len(labels))
	for _, l := range labels {
		seen[l.Name] = true
	}
	derived := map[string]Label{}
	for _, l := range labels {
		for _, p := range l.Categories {
			p = normaliseLabel(p)
			if p == "" || seen[p] {
				continue
			}
			prev, ok := derived[p]
			if ok && (prev.Confidence > l.Confidence || (prev.Confidence == l.Confidence && prev.DerivedFrom < l.Name)) {
				continue
			}
			derived[p] = Label{Name: p, Confidence: l.Confidence, Categories: []string{}, Provider: l.Provider, Model: l.Model, DerivedFrom: l.Name}
		}
	}
	for _, l := range derived {
		labels = append(labels, l)
	}
	return labels
}

// labelColumns are what scanLabel reads.
const labelColumns = "name, confidence, categories, provider, model, derived_from"

func scanLabel(row rowScanner) (Label, error) {
	var l Label
	var cats string
	if err := row.Scan(&l.Name, &l.Confidence, &cats, &l.Provider, &l.Model, &l.DerivedFrom); err != nil {
		return Label{}, err
	}
	if err := json.Unmarshal([]byte(cats), &l.Categories); err != nil {
		return Label{}, fmt.Errorf("label %s categories: %w", l.Name, err)
	}
	return l, nil
}

func (s *sqlStore) ImageLabels(ctx context.Context, ownerID int64, imageID string) ([]Label, error) {
	// The image is checked separately so that an unlabelled image gives no labels and
	// someone else's gives ErrNotFound.
	var one int
	err := s.db.QueryRowContext(ctx, s.d.rebind("SELECT 1 FROM images WHERE id = ? AND owner_id = ?"), imageID, ownerID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("get labels of image %s: %w", imageID, err)
	}
	rows, err := s.db.QueryContext(ctx, s.d.rebind("SELECT "+labelColumns+" FROM labels WHERE image_id = ? AND owner_id = ? ORDER BY confidence DESC, derived_from, name"),
		imageID, ownerID)
	if err != nil {
		return nil, fmt.Errorf("get labels of image %s: %w", imageID, err)
	}
	labels, err := scanAll(rows, scanLabel)
	if err != nil {
		return nil, fmt.Errorf("get labels of image %s: %w", imageID, err)
	}
	return labels, nil
}

// maxSearchLabels bounds the labels one search may combine.
const maxSearchLabels = 10

func (s *sqlStore) SearchByLabels(ctx context.Context, ownerID int64, names []string, page PageRequest) (Page, error) {
	seen := map[string]bool{}
	var want []string
	for _, n := range names {
		if n = normaliseLabel(n); n != "" && !seen[n] {
			seen[n] = true
			want = append(want, n)
		}
	}
	if len(want) == 0 {
		return Page{}, errors.New("search images by label: no labels given")
	}
	if len(want) > maxSearchLabels {
		return Page{}, fmt.Errorf("search images by label: at most %d labels, not %d", maxSearchLabels, len(want))
	}
	limit, after, err := pageBounds(page)
	if err != nil {
		return Page{}, fmt.Errorf("search images by label: %w", err)
	}
	if want, err = rarestFirst(ctx, s.reader(ctx), s.d, ownerID, want); err != nil {
		return Page{}, fmt.Errorf("search images by label: %w", err)
	}
	// The first label's rows are scanned in labels_search order (newest first) and each
	// other label is a primary-key probe, so a page costs about limit index reads; the
	// dialect's join keeps labels first where the planner would not (labelsFirstJoin).
	join := cmp.Or(s.d.labelsFirstJoin, "JOIN")
	q := "SELECT " + prefixed("i") + " FROM labels l " + join + " images i ON i.id = l.image_id WHERE l.owner_id = ? AND l.name = ?"
	args := []any{ownerID, want[0]}
	for _, n := range want[1:] {
		q += " AND EXISTS (SELECT 1 FROM labels x WHERE x.image_id = l.image_id AND x.name = ?)"
		args = append(args, n)
	}
	if after != nil {
		q += " AND l.image_created_at <= ? AND (l.image_created_at < ? OR l.image_id < ?)" // see ListImages
		args = append(args, after.createdAt, after.createdAt, after.id)
	}
	q += " ORDER BY l.image_created_at DESC, l.image_id DESC LIMIT ?"
	args = append(args, limit+1)
	p, err := s.queryPage(ctx, q, args, limit)
	if err != nil {
		return Page{}, fmt.Errorf("search images by label: %w", err)
	}
	return p, nil
}

// rarityProbe caps the rows rarestFirst counts of each label.
const rarityProbe = 1000

// rarestFirst orders a search's labels by how many of owner's images carry each, up to
// rarityProbe rows counted, rarest first: the search scans the first label's rows until
// it has a page, so a common label first and a rare one second read thousands of rows
// for a few matches (22 ms at 100,000 images against 0.5 ms the other way round,
// BenchmarkScale). One query; each label's count reads at most rarityProbe index
// entries.
func rarestFirst(ctx context.Context, db *sql.DB, d dialect, ownerID int64, names []string) ([]string, error) {
	if len(names) < 2 {
		return names, nil
	}
	var q strings.Builder
	args := make([]any, 0, 3*len(names))
	for i, n := range names {
		if i > 0 {
			q.WriteString(" UNION ALL ")
		}
		fmt.Fprintf(&q, "SELECT ? AS name, COUNT(*) AS n FROM (SELECT 1 FROM labels WHERE owner_id = ? AND name = ? LIMIT %d) p%d", rarityProbe, i)
		args = append(args, n, ownerID, n)
	}
	rows, err := db.QueryContext(ctx, d.rebind(q.String()), args...)
	if err != nil {
		return nil, fmt.Errorf("count labels: %w", err)
	}
	counted, err := scanAll(rows, scanLabelCount)
	if err != nil {
		return nil, fmt.Errorf("count labels: %w", err)
	}
	counts := make(map[string]int64, len(counted))
	for _, c := range counted {
		counts[c.Name] = c.Images
	}
	out := slices.Clone(names)
	slices.SortStableFunc(out, func(a, b string) int { return cmp.Compare(counts[a], counts[b]) })
	return out, nil
}

func scanLabelCount(row rowScanner) (LabelCount, error) {
	var c LabelCount
	err := row.Scan(&c.Name, &c.Images)
	return c, err
}

func (s *sqlStore) LabelCounts(ctx context.Context, ownerID int64) ([]LabelCount, error) {
	rows, err := s.reader(ctx).QueryContext(ctx, s.d.rebind("SELECT name, COUNT(*) AS images FROM labels WHERE owner_id = ? GROUP BY name ORDER BY images DESC, name"), ownerID)
	if err != nil {
		return nil, fmt.Errorf("count labels: %w", err)
	}
	counts, err := scanAll(rows, scanLabelCount)
	if err != nil {
		return nil, fmt.Errorf("count labels: %w", err)
	}
	return counts, nil
}
