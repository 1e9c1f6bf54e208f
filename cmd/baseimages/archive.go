package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// layerTar writes the root as one tar: sorted, every timestamp at epoch, the folders that
// hold entries but are not entries themselves root-owned 0755. No entry may sit below a
// symlink: an extractor would either refuse it or write through the link.
func layerTar(r rootfs, epoch time.Time) ([]byte, error) {
	all := rootfs{}
	for n := range r {
		for d := path.Dir(n); d != "/"; d = path.Dir(d) {
			if p, ok := r[d]; ok && !p.dir {
				return nil, fmt.Errorf("%s is below %s, which is not a folder", n, d)
			}
			if _, ok := all[d]; !ok {
				all[d] = entry{name: d, mode: 0o755, dir: true}
			}
		}
	}
	for n, e := range r {
		all[n] = e
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range all.names() {
		e := all[n]
		h := &tar.Header{
			Name: strings.TrimPrefix(n, "/"), Mode: tarMode(e.mode), Uid: e.uid, Gid: e.gid,
			ModTime: epoch, Format: tar.FormatPAX, Typeflag: tar.TypeReg,
		}
		data := e.data
		switch {
		case e.dir:
			h.Typeflag, h.Name = tar.TypeDir, h.Name+"/"
		case e.link != "":
			h.Typeflag, h.Linkname = tar.TypeSymlink, e.link
		case e.src != "":
			b, err := os.ReadFile(e.src)
			if err != nil {
				return nil, fmt.Errorf("read %s: %w", e.name, err)
			}
			data = b
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(data))
		}
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

// gzipLayer compresses a layer's tar once; the archive stores it as is. gzip's default
// level: on the MariaDB layer (91 MB) level 9 saved 0.1 MB of 28.3 MB and took 27.6 s
// instead of 4.4 s.
func gzipLayer(raw []byte) (v1.Layer, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.DefaultCompression)
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

// ociImage is an OCI image of one layer with the given configuration.
func ociImage(layer v1.Layer, cfg v1.Config, arch, comment string, epoch time.Time) (v1.Image, error) {
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err := mutate.Append(img, mutate.Addendum{
		Layer:     layer,
		MediaType: types.OCILayer,
		History:   v1.History{Created: v1.Time{Time: epoch}, CreatedBy: "cmd/baseimages", Comment: comment},
	})
	if err != nil {
		return nil, err
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

// writeOCIArchive writes img as an OCI image layout tarred into one file, which
// `ctr images import`, `podman load` and skopeo's oci-archive read. ref, the full
// reference, is the manifest's org.opencontainers.image.ref.name (ctr names the image
// after it) and io.containerd.image.name; annotations are added to the manifest's.
func writeOCIArchive(out, ref string, img v1.Image, annotations map[string]string) error {
	dir, err := os.MkdirTemp("", "baseimages-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	anns := map[string]string{"org.opencontainers.image.ref.name": ref, "io.containerd.image.name": ref}
	for k, v := range annotations {
		anns[k] = v
	}
	if err := p.AppendImage(img, layout.WithAnnotations(anns)); err != nil {
		return fmt.Errorf("write OCI layout: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	f, err := os.Create(out)
	if err != nil {
		return err
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
	if err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	return nil
}
