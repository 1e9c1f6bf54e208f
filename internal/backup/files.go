package backup

import (
	"bufio"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"strconv"
	"strings"
)

// A table file is gzipped JSON lines: first {"columns":[…]}, then one array of values
// per row. Values are JSON's own types; bytes that are not UTF-8 text are
// {"base64":"…"}. Integers are written as integers and read back exactly (UseNumber).

type tableHeader struct {
	Columns []string `json:"columns"`
}

type base64Value struct {
	Base64 string `json:"base64"`
}

// tempFile is a file being written in the temporary folder, counting and hashing what
// goes through it.
type tempFile struct {
	f    *os.File
	h    hash.Hash
	n    int64
	gz   *gzip.Writer
	enc  *json.Encoder
	rows int64
}

func newTableFile(dir string, columns []string) (*tempFile, error) {
	f, err := os.CreateTemp(dir, "table-*.jsonl.gz")
	if err != nil {
		return nil, fmt.Errorf("create temporary file: %w", err)
	}
	t := &tempFile{f: f, h: sha256.New()}
	t.gz = gzip.NewWriter(io.MultiWriter(f, t.h, (*counter)(&t.n)))
	t.enc = json.NewEncoder(t.gz)
	if err := t.enc.Encode(tableHeader{Columns: columns}); err != nil {
		t.remove()
		return nil, fmt.Errorf("write table header: %w", err)
	}
	return t, nil
}

func (t *tempFile) writeRow(values []any) error {
	row := make([]any, len(values))
	for i, v := range values {
		if b, ok := v.([]byte); ok {
			row[i] = base64Value{Base64: base64.StdEncoding.EncodeToString(b)}
			continue
		}
		row[i] = v
	}
	t.rows++
	return t.enc.Encode(row)
}

// finish flushes the file and returns its size and SHA-256.
func (t *tempFile) finish() (int64, string, error) {
	if err := t.gz.Close(); err != nil {
		return 0, "", fmt.Errorf("compress: %w", err)
	}
	if err := t.f.Sync(); err != nil {
		return 0, "", err
	}
	return t.n, hex.EncodeToString(t.h.Sum(nil)), nil
}

func (t *tempFile) remove() {
	_ = t.f.Close()
	_ = os.Remove(t.f.Name())
}

type counter int64

func (c *counter) Write(p []byte) (int, error) {
	*c += counter(len(p))
	return len(p), nil
}

// readTable streams a table file's rows to fn.
func readTable(r io.Reader, fn func(columns []string, values []any) error) (int64, error) {
	gz, err := gzip.NewReader(r)
	if err != nil {
		return 0, fmt.Errorf("not a gzip file: %w", err)
	}
	dec := json.NewDecoder(bufio.NewReader(gz))
	dec.UseNumber()
	var h tableHeader
	if err := dec.Decode(&h); err != nil || len(h.Columns) == 0 {
		return 0, fmt.Errorf("no column header: %w", errors.Join(err, errors.New("empty")))
	}
	var rows int64
	for {
		var raw []any
		err := dec.Decode(&raw)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return rows, fmt.Errorf("row %d: %w", rows+1, err)
		}
		if len(raw) != len(h.Columns) {
			return rows, fmt.Errorf("row %d has %d values for %d columns", rows+1, len(raw), len(h.Columns))
		}
		for i, v := range raw {
			if raw[i], err = decodeValue(v); err != nil {
				return rows, fmt.Errorf("row %d, %s: %w", rows+1, h.Columns[i], err)
			}
		}
		rows++
		if err := fn(h.Columns, raw); err != nil {
			return rows, err
		}
	}
	if err := gz.Close(); err != nil {
		return rows, fmt.Errorf("gzip: %w", err)
	}
	return rows, nil
}

// decodeValue turns a decoded JSON value into one of store.TableSource's types.
func decodeValue(v any) (any, error) {
	switch v := v.(type) {
	case nil, bool, string:
		return v, nil
	case json.Number:
		s := v.String()
		if !strings.ContainsAny(s, ".eE") {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return nil, err
			}
			return n, nil
		}
		return v.Float64()
	case map[string]any:
		s, ok := v["base64"].(string)
		if !ok || len(v) != 1 {
			return nil, fmt.Errorf("unexpected object %v", v)
		}
		return base64.StdEncoding.DecodeString(s)
	default:
		return nil, fmt.Errorf("unexpected value %T", v)
	}
}

// photoEntry is one photo object a backup holds or lists.
type photoEntry struct {
	Key    string `json:"key"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256,omitempty"`
}

// writePhotoList writes entries as gzipped JSON lines to a temporary file.
func writePhotoList(dir string, entries []photoEntry) (*os.File, int64, string, error) {
	f, err := os.CreateTemp(dir, "photos-*.jsonl.gz")
	if err != nil {
		return nil, 0, "", fmt.Errorf("create temporary file: %w", err)
	}
	h := sha256.New()
	var n counter
	gz := gzip.NewWriter(io.MultiWriter(f, h, &n))
	enc := json.NewEncoder(gz)
	for _, e := range entries {
		if err := enc.Encode(e); err != nil {
			_ = f.Close()
			return nil, 0, "", err
		}
	}
	if err := gz.Close(); err != nil {
		_ = f.Close()
		return nil, 0, "", err
	}
	return f, int64(n), hex.EncodeToString(h.Sum(nil)), nil
}

func readPhotoList(r io.Reader) ([]photoEntry, error) {
	gz, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("not a gzip file: %w", err)
	}
	dec := json.NewDecoder(bufio.NewReader(gz))
	var entries []photoEntry
	for {
		var e photoEntry
		err := dec.Decode(&e)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("entry %d: %w", len(entries)+1, err)
		}
		entries = append(entries, e)
	}
	return entries, gz.Close()
}

// hashingReader hashes and counts what is read through it.
type hashingReader struct {
	r io.Reader
	h hash.Hash
	n int64
}

func newHashingReader(r io.Reader) *hashingReader {
	return &hashingReader{r: r, h: sha256.New()}
}

func (hr *hashingReader) Read(p []byte) (int, error) {
	n, err := hr.r.Read(p)
	hr.h.Write(p[:n])
	hr.n += int64(n)
	return n, err
}

func (hr *hashingReader) sum() string { return hex.EncodeToString(hr.h.Sum(nil)) }

// download copies an object of loc into a temporary file and checks its size and
// SHA-256 against what the manifest recorded.
func download(ctx context.Context, loc Location, dir, key string, size int64, sum string) (*os.File, error) {
	rc, _, err := loc.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	defer rc.Close()
	f, err := os.CreateTemp(dir, "download-*")
	if err != nil {
		return nil, fmt.Errorf("create temporary file: %w", err)
	}
	hr := newHashingReader(rc)
	if _, err := io.Copy(f, hr); err != nil {
		closeRemove(f)
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	if hr.n != size || hr.sum() != sum {
		closeRemove(f)
		return nil, fmt.Errorf("%w: %s is %d bytes with SHA-256 %.12s…, the manifest says %d bytes with %.12s…", ErrDamaged, key, hr.n, hr.sum(), size, sum)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		closeRemove(f)
		return nil, err
	}
	return f, nil
}

func closeRemove(f *os.File) {
	_ = f.Close()
	_ = os.Remove(f.Name())
}
