package objects

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Filesystem stores objects as files under a root folder: the key's segments are the
// path. Each object's content type sits beside it in a dot-file, which no valid key can
// name.
type Filesystem struct {
	root string
	// deferSync leaves each Put's bytes in the page cache until Sync; see Batched.
	deferSync bool
}

var (
	_ Store  = (*Filesystem)(nil)
	_ Lister = (*Filesystem)(nil)
)

// NewFilesystem returns a store under root, creating the folder if needed.
func NewFilesystem(root string) (*Filesystem, error) {
	if root == "" {
		return nil, errors.New("filesystem storage: empty root folder")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("filesystem storage: resolve %s: %w", root, err)
	}
	if err := os.MkdirAll(abs, 0o750); err != nil {
		return nil, fmt.Errorf("filesystem storage: create %s: %w", abs, err)
	}
	return &Filesystem{root: abs}, nil
}

// Batched returns a store on the same folder whose Put does not sync each object to
// disk: a bulk copy (a backup, a restore) of tens of thousands of photos calls Sync
// once, before it records the copy as done, instead of paying two fsyncs per object.
// A crash before Sync can lose the objects put since the last one; renames still make
// every object whole or absent.
func (f *Filesystem) Batched() *Filesystem {
	return &Filesystem{root: f.root, deferSync: true}
}

// Sync writes every object put so far to disk: syncfs(2) of the filesystem holding
// the root.
func (f *Filesystem) Sync(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	d, err := os.Open(f.root)
	if err != nil {
		return fmt.Errorf("filesystem storage: sync: %w", err)
	}
	defer d.Close()
	if err := unix.Syncfs(int(d.Fd())); err != nil {
		return fmt.Errorf("filesystem storage: sync %s: %w", f.root, err)
	}
	return nil
}

// Root is the folder the store keeps its files in.
func (f *Filesystem) Root() string { return f.root }

func (f *Filesystem) paths(key string) (data, meta string, err error) {
	if err := ValidateKey(key); err != nil {
		return "", "", err
	}
	data = filepath.Join(f.root, filepath.FromSlash(key))
	dir, name := filepath.Split(data)
	return data, filepath.Join(dir, "."+name+".content-type"), nil
}

// Put writes the object to a temporary file in the target folder, syncs it and renames
// it into place, so a reader or a crash never sees half an object.
func (f *Filesystem) Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error {
	data, meta, err := f.paths(key)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if contentType == "" {
		contentType = DefaultContentType
	}
	dir := filepath.Dir(data)
	metaTmp, err := f.writeTemp(dir, strings.NewReader(contentType), int64(len(contentType)))
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	defer os.Remove(metaTmp)
	dataTmp, err := f.writeTemp(dir, &ctxReader{ctx: ctx, r: r}, size)
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	defer os.Remove(dataTmp)
	// The content type goes first: a reader between the two renames sees the old
	// bytes labelled with the new type, which for photos is harmless.
	if err := os.Rename(metaTmp, meta); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	if err := os.Rename(dataTmp, data); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}

// writeTemp writes r to a new temporary file in dir (created if needed) and returns its
// path. A concurrent Delete may remove an emptied dir between MkdirAll and CreateTemp,
// hence the retry.
func (f *Filesystem) writeTemp(dir string, r io.Reader, size int64) (string, error) {
	var tmp *os.File
	var err error
	for range 3 {
		if err = os.MkdirAll(dir, 0o750); err != nil {
			continue
		}
		if tmp, err = os.CreateTemp(dir, ".tmp-*"); err == nil || !errors.Is(err, fs.ErrNotExist) {
			break
		}
	}
	if err != nil {
		return "", err
	}
	name := tmp.Name()
	fail := func(err error) (string, error) {
		_ = tmp.Close()
		_ = os.Remove(name)
		return "", err
	}
	var n int64
	if size >= 0 {
		// Read one byte past size to notice a reader that is too long.
		n, err = io.Copy(tmp, io.LimitReader(r, size+1))
	} else {
		n, err = io.Copy(tmp, r)
	}
	if err != nil {
		return fail(err)
	}
	if size >= 0 && n != size {
		return fail(fmt.Errorf("%w: declared %d bytes, read %d", ErrSizeMismatch, size, n))
	}
	if !f.deferSync {
		if err := tmp.Sync(); err != nil {
			return fail(err)
		}
	}
	if err := tmp.Close(); err != nil {
		_ = os.Remove(name)
		return "", err
	}
	return name, nil
}

// Get opens the object's file.
func (f *Filesystem) Get(ctx context.Context, key string) (io.ReadCloser, Info, error) {
	data, meta, err := f.paths(key)
	if err != nil {
		return nil, Info{}, err
	}
	if err := ctx.Err(); err != nil {
		return nil, Info{}, err
	}
	file, err := os.Open(data)
	if err != nil {
		return nil, Info{}, fmt.Errorf("get %s: %w", key, notFound(err))
	}
	st, err := file.Stat()
	if err != nil {
		_ = file.Close()
		return nil, Info{}, fmt.Errorf("get %s: %w", key, err)
	}
	if !st.Mode().IsRegular() {
		_ = file.Close()
		return nil, Info{}, fmt.Errorf("get %s: %w", key, ErrNotFound)
	}
	return file, Info{Key: key, Size: st.Size(), ContentType: readContentType(meta)}, nil
}

// Head stats the object's file.
func (f *Filesystem) Head(ctx context.Context, key string) (Info, error) {
	data, meta, err := f.paths(key)
	if err != nil {
		return Info{}, err
	}
	if err := ctx.Err(); err != nil {
		return Info{}, err
	}
	st, err := os.Stat(data)
	if err != nil {
		return Info{}, fmt.Errorf("head %s: %w", key, notFound(err))
	}
	if !st.Mode().IsRegular() {
		return Info{}, fmt.Errorf("head %s: %w", key, ErrNotFound)
	}
	return Info{Key: key, Size: st.Size(), ContentType: readContentType(meta)}, nil
}

// Delete removes the object's file and its content type, then any folders that are left
// empty, up to the root.
func (f *Filesystem) Delete(ctx context.Context, key string) error {
	data, meta, err := f.paths(key)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := os.Remove(data); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	if err := os.Remove(meta); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	for dir := filepath.Dir(data); dir != f.root && strings.HasPrefix(dir, f.root); dir = filepath.Dir(dir) {
		// Fails, harmlessly, on the first folder still in use.
		if os.Remove(dir) != nil {
			break
		}
	}
	return nil
}

// List walks the folders under prefix, skipping the store's own dot-files (content
// types, half-written temporary files), and reports keys in ascending order.
func (f *Filesystem) List(ctx context.Context, prefix string, fn func(Info) error) error {
	dir := f.root
	if p := strings.TrimSuffix(prefix, "/"); p != "" {
		// The folder holding prefix: the prefix may end mid-name ("backups/2026").
		if i := strings.LastIndex(p, "/"); i >= 0 && !strings.HasSuffix(prefix, "/") {
			p = p[:i]
		} else if !strings.HasSuffix(prefix, "/") {
			p = ""
		}
		if p != "" {
			if err := ValidateKey(p); err != nil {
				return err
			}
			dir = filepath.Join(f.root, filepath.FromSlash(p))
		}
	}
	var infos []Info
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() && path != dir {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() || !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(f.root, path)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if !strings.HasPrefix(key, prefix) {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return notFoundOrErr(err)
		}
		infos = append(infos, Info{Key: key, Size: fi.Size(), Modified: fi.ModTime()})
		return nil
	})
	if err != nil {
		return fmt.Errorf("list %s: %w", prefix, err)
	}
	sort.Slice(infos, func(i, j int) bool { return infos[i].Key < infos[j].Key })
	for _, in := range infos {
		if err := fn(in); err != nil {
			return err
		}
	}
	return nil
}

// notFoundOrErr skips a file removed while List walked (nil), and returns other errors.
func notFoundOrErr(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// Ping checks that the root folder exists and accepts a new file, so a read-only or
// missing volume fails readiness.
func (f *Filesystem) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(f.root, ".ping-*")
	if err != nil {
		return fmt.Errorf("filesystem storage %s not writable: %w", f.root, err)
	}
	name := tmp.Name()
	_ = tmp.Close()
	if err := os.Remove(name); err != nil {
		return fmt.Errorf("filesystem storage %s: %w", f.root, err)
	}
	return nil
}

func readContentType(meta string) string {
	b, err := os.ReadFile(meta)
	if err != nil || len(b) == 0 || len(b) > 255 {
		return DefaultContentType
	}
	return string(b)
}

// notFound maps a missing file, or a path through a file (ENOTDIR), to ErrNotFound.
func notFound(err error) error {
	var pe *fs.PathError
	if errors.Is(err, fs.ErrNotExist) || errors.As(err, &pe) && errors.Is(pe.Err, syscall.ENOTDIR) {
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return err
}

// ctxReader stops a long copy when the context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
