// Package ociarchive builds reproducible OCI images from file entries and writes them as
// OCI image archives (an OCI image layout tarred into one file), with
// github.com/google/go-containerregistry and no Docker engine: what hack/imagebuild and
// hack/baseimages share. Every timestamp in an image is the epoch its caller gives, usually
// $SOURCE_DATE_EPOCH, so the same inputs give the same digest.
package ociarchive

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Entry is one file, folder or symlink of a layer.
type Entry struct {
	Name     string      // absolute path in the image, no symlink or file among its folders
	Mode     fs.FileMode // permission bits, with setuid, setgid and sticky
	UID, GID int
	Dir      bool
	Link     string // symlink target
	Src      string // this machine's file with the content, read when the layer is written; else Data
	Data     []byte
}

// Layer is one layer of an image: its entries and the comment of its history entry.
type Layer struct {
	Comment string
	Entries []Entry
}

// Image is an OCI image of the layers, in order, with configuration cfg, for linux/arch.
// Each layer is gzipped at level; its history and the image are created at epoch, by
// createdBy.
func Image(layers []Layer, cfg v1.Config, arch, createdBy string, epoch time.Time, level int) (v1.Image, error) {
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	for i, ls := range layers {
		raw, err := layerTar(ls.Entries, epoch)
		if err != nil {
			return nil, fmt.Errorf("layer %d: %w", i, err)
		}
		l, err := gzipLayer(raw, level)
		if err != nil {
			return nil, fmt.Errorf("layer %d: compress: %w", i, err)
		}
		img, err = mutate.Append(img, mutate.Addendum{
			Layer:     l,
			MediaType: types.OCILayer,
			History:   v1.History{Created: v1.Time{Time: epoch}, CreatedBy: createdBy, Comment: ls.Comment},
		})
		if err != nil {
			return nil, err
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", arch
	cf.Created = v1.Time{Time: epoch}
	cf.Config = cfg
	return mutate.ConfigFile(img, cf)
}

// layerTar writes the entries as one tar: sorted, every timestamp at epoch, the folders
// that hold entries but are not entries themselves root-owned 0755; of two entries with
// the same name, the last. No entry may sit below a symlink or a file: an extractor would
// either refuse it or write through the link.
func layerTar(entries []Entry, epoch time.Time) ([]byte, error) {
	given := make(map[string]Entry, len(entries))
	for _, e := range entries {
		given[e.Name] = e
	}
	all := make(map[string]Entry, len(given))
	for n := range given {
		for d := path.Dir(n); d != "/"; d = path.Dir(d) {
			if p, ok := given[d]; ok && !p.Dir {
				return nil, fmt.Errorf("%s is below %s, which is not a folder", n, d)
			}
			if _, ok := all[d]; !ok {
				all[d] = Entry{Name: d, Mode: 0o755, Dir: true}
			}
		}
	}
	for n, e := range given {
		all[n] = e
	}
	names := make([]string, 0, len(all))
	for n := range all {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range names {
		e := all[n]
		h := &tar.Header{
			Name: strings.TrimPrefix(n, "/"), Mode: tarMode(e.Mode), Uid: e.UID, Gid: e.GID,
			ModTime: epoch, Format: tar.FormatPAX, Typeflag: tar.TypeReg,
		}
		data := e.Data
		switch {
		case e.Dir:
			h.Typeflag, h.Name, data = tar.TypeDir, h.Name+"/", nil
		case e.Link != "":
			h.Typeflag, h.Linkname, data = tar.TypeSymlink, e.Link, nil
		case e.Src != "":
			b, err := os.ReadFile(e.Src)
			if err != nil {
				return nil, fmt.Errorf("read %s: %w", e.Name, err)
			}
			data = b
		}
		h.Size = int64(len(data))
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// tarMode is m in tar's bits: permissions plus 04000 setuid, 02000 setgid, 01000 sticky.
func tarMode(m fs.FileMode) int64 {
	t := int64(m.Perm())
	if m&fs.ModeSetuid != 0 {
		t |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		t |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		t |= 0o1000
	}
	return t
}

// gzipLayer compresses a layer's tar once, at level; the archive stores it as is.
func gzipLayer(raw []byte, level int) (v1.Layer, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, level)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(raw); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	compressed := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(compressed)), nil },
		tarball.WithMediaType(types.OCILayer))
}

// RefName is the manifest annotation that names an image in an OCI layout.
const RefName = "org.opencontainers.image.ref.name"

// Write writes img as an OCI image layout tarred into one file, out, which
// `ctr images import`, `podman load`, `docker load` and skopeo's oci-archive read. ref,
// the full reference, is the manifest's org.opencontainers.image.ref.name; annotations
// are added to the manifest's. Every file in the archive is dated 1970-01-01.
func Write(out, ref string, img v1.Image, annotations map[string]string) error {
	dir, err := os.MkdirTemp("", "ociarchive-*")
	if err != nil {
		return fmt.Errorf("make a folder for the OCI layout: %w", err)
	}
	defer os.RemoveAll(dir)
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return fmt.Errorf("start the OCI layout: %w", err)
	}
	anns := map[string]string{RefName: ref}
	for k, v := range annotations {
		anns[k] = v
	}
	if err := p.AppendImage(img, layout.WithAnnotations(anns)); err != nil {
		return fmt.Errorf("write OCI layout: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return fmt.Errorf("make the folder of %s: %w", out, err)
	}
	// Written beside and renamed at the end: an interrupted build leaves no truncated
	// archive for an import to trip on.
	tmp := out + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("create %s: %w", tmp, err)
	}
	tw := tar.NewWriter(f)
	err = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		h := &tar.Header{Name: filepath.ToSlash(rel), Mode: 0o644, ModTime: time.Unix(0, 0), Format: tar.FormatPAX, Typeflag: tar.TypeReg}
		if d.IsDir() {
			h.Typeflag, h.Name, h.Mode = tar.TypeDir, h.Name+"/", 0o755
			return tw.WriteHeader(h)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		h.Size = int64(len(b))
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		_, err = tw.Write(b)
		return err
	})
	if err == nil {
		err = tw.Close()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, out)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write %s: %w", out, err)
	}
	return nil
}

// Read opens the single image of an archive that Write wrote, with its manifest's
// annotations; dir receives the unpacked layout and must outlive the image's use.
func Read(archive, dir string) (v1.Image, map[string]string, error) {
	f, err := os.Open(archive)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, err
		}
		target := filepath.Join(dir, filepath.FromSlash(h.Name))
		if !strings.HasPrefix(target, filepath.Clean(dir)+string(filepath.Separator)) {
			return nil, nil, fmt.Errorf("bad path %s in archive", h.Name)
		}
		if h.Typeflag == tar.TypeDir {
			if err := os.MkdirAll(target, 0o755); err != nil {
				return nil, nil, err
			}
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return nil, nil, err
		}
		if err := os.WriteFile(target, b, 0o644); err != nil {
			return nil, nil, err
		}
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, nil, err
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, nil, err
	}
	if len(m.Manifests) != 1 {
		return nil, nil, fmt.Errorf("want one image in %s, found %d", archive, len(m.Manifests))
	}
	img, err := idx.Image(m.Manifests[0].Digest)
	return img, m.Manifests[0].Annotations, err
}

// SourceDateEpoch is the time every timestamp in an image takes: s, $SOURCE_DATE_EPOCH
// (seconds), or 1970-01-01 when s is empty.
func SourceDateEpoch(s string) (time.Time, error) {
	if s == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	sec, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH: %w", err)
	}
	return time.Unix(sec, 0).UTC(), nil
}
