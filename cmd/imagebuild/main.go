// Command imagebuild builds Sortographer's container images without a Docker engine, as
// OCI image archives (`podman load`, `docker load`, `skopeo copy oci-archive:…`), with
// github.com/google/go-containerregistry. It makes the same images as Dockerfile.manager
// and Dockerfile.gallery: a distroless-style root (passwd and group with nonroot 65532,
// CA certificates from this machine, /tmp), optional data files, the binary, a non-root
// user and the entrypoint. Builds are reproducible: every timestamp is
// $SOURCE_DATE_EPOCH (default 0), so the same inputs give the same digest.
//
//	imagebuild -o dist/images/manager.tar -tag ghcr.io/sortographer/sortographer-operator:v0.2.0 \
//	  -binary dist/bin/manager -entrypoint /manager
//	imagebuild -o dist/images/gallery.tar -tag … -binary dist/bin/sortographer -entrypoint /sortographer \
//	  -model-dir .cache/model
//
// A dynamically linked binary (the gallery's, which loads ONNX Runtime through cgo)
// brings its shared libraries and loader from this machine, found with ldd, as do the
// libraries in -model-dir. `imagebuild -inspect FILE` prints an archive's layers and
// configuration.
package main

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
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

// The image's user, as distroless' nonroot.
const (
	nonrootUID = 65532
	nonrootGID = 65532
)

// Where the gallery image keeps the built-in model and ONNX Runtime; its environment
// points the gallery binary (internal/config) at them.
const (
	modelDir = "/usr/share/sortographer/model"
	libDir   = "/usr/lib/sortographer"
)

type options struct {
	out, tag, binary, entrypoint string
	caFile, modelDir, arch       string
	env                          []string
	epoch                        time.Time
}

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

func main() {
	if len(os.Args) == 3 && os.Args[1] == "-inspect" {
		if err := inspect(os.Stdout, os.Args[2]); err != nil {
			fmt.Fprintln(os.Stderr, "imagebuild:", err)
			os.Exit(1)
		}
		return
	}
	var o options
	var env listFlag
	flag.StringVar(&o.out, "o", "", "output OCI archive (.tar)")
	flag.StringVar(&o.tag, "tag", "", "image reference recorded in the archive, e.g. ghcr.io/sortographer/sortographer-operator:v0.2.0")
	flag.StringVar(&o.binary, "binary", "", "the binary to run; placed at -entrypoint")
	flag.StringVar(&o.entrypoint, "entrypoint", "", "absolute path of the binary in the image, the entrypoint")
	flag.StringVar(&o.caFile, "ca-certificates", "/etc/ssl/certs/ca-certificates.crt", "CA bundle copied to /etc/ssl/certs/ca-certificates.crt")
	flag.StringVar(&o.modelDir, "model-dir", "", "folder with the built-in model (model.onnx, labels.txt) and libonnxruntime.so*; empty for none")
	flag.StringVar(&o.arch, "arch", runtime.GOARCH, "image architecture (the binary's)")
	flag.Var(&env, "env", "KEY=VALUE added to the image's environment (repeatable)")
	flag.Parse()
	o.env = env
	o.epoch = time.Unix(0, 0).UTC()
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		sec, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			fmt.Fprintln(os.Stderr, "imagebuild: SOURCE_DATE_EPOCH:", err)
			os.Exit(2)
		}
		o.epoch = time.Unix(sec, 0).UTC()
	}
	if o.out == "" || o.tag == "" || o.binary == "" || !path.IsAbs(o.entrypoint) {
		flag.Usage()
		os.Exit(2)
	}
	img, err := build(o)
	if err == nil {
		err = writeOCIArchive(o.out, o.tag, img)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "imagebuild:", err)
		os.Exit(1)
	}
	d, _ := img.Digest()
	fmt.Printf("%s %s %s\n", o.out, o.tag, d)
}

// file is one entry of a layer.
type file struct {
	name     string // absolute path in the image
	mode     int64
	uid, gid int
	data     []byte
	dir      bool
	link     string // symlink target
}

// build assembles the image: a base layer (users, CA certificates, /tmp), a data layer
// (model and shared libraries, when any) and the binary's layer, so a new binary changes
// only the last.
func build(o options) (v1.Image, error) {
	ca, err := os.ReadFile(o.caFile)
	if err != nil {
		return nil, fmt.Errorf("read CA certificates: %w", err)
	}
	base := []file{
		{name: "/etc/passwd", mode: 0o644, data: []byte("root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")},
		{name: "/etc/group", mode: 0o644, data: []byte("root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n")},
		{name: "/etc/nsswitch.conf", mode: 0o644, data: []byte("hosts: files dns\n")},
		{name: "/etc/ssl/certs/ca-certificates.crt", mode: 0o644, data: ca},
		{name: "/home/nonroot", mode: 0o700, dir: true, uid: nonrootUID, gid: nonrootGID},
		{name: "/tmp", mode: 0o1777, dir: true},
	}
	bin, err := os.ReadFile(o.binary)
	if err != nil {
		return nil, fmt.Errorf("read binary: %w", err)
	}
	dynamic, err := isDynamic(o.binary)
	if err != nil {
		return nil, fmt.Errorf("inspect binary %s: %w", o.binary, err)
	}

	env := []string{"PATH=/usr/local/bin:/usr/bin:/bin", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt", "HOME=/home/nonroot"}
	var data []file
	var needLibs []string // files whose shared libraries the image must carry
	if dynamic {
		needLibs = append(needLibs, o.binary)
	}
	if o.modelDir != "" {
		entries, err := os.ReadDir(o.modelDir)
		if err != nil {
			return nil, fmt.Errorf("read model folder: %w", err)
		}
		for _, e := range entries {
			if e.IsDir() {
				continue
			}
			src := filepath.Join(o.modelDir, e.Name())
			b, err := os.ReadFile(src)
			if err != nil {
				return nil, fmt.Errorf("read %s: %w", src, err)
			}
			if strings.HasPrefix(e.Name(), "libonnxruntime") {
				data = append(data, file{name: path.Join(libDir, e.Name()), mode: 0o755, data: b})
				needLibs = append(needLibs, src)
				continue
			}
			data = append(data, file{name: path.Join(modelDir, e.Name()), mode: 0o644, data: b})
		}
		env = append(env, "SORTOGRAPHER_MODEL_DIR="+modelDir)
		if lib := onnxRuntimeLib(data); lib != "" {
			env = append(env, "SORTOGRAPHER_ONNXRUNTIME_LIB="+lib)
		}
	}
	if len(needLibs) > 0 {
		libs, err := sharedLibraries(needLibs)
		if err != nil {
			return nil, err
		}
		data = append(data, libs...)
	}
	env = append(env, o.env...)

	type layerSpec struct {
		comment string
		files   []file
	}
	layers := []layerSpec{{"base: users, CA certificates, /tmp", base}}
	if len(data) > 0 {
		layers = append(layers, layerSpec{"data: model, shared libraries", data})
	}
	layers = append(layers, layerSpec{"binary", []file{{name: o.entrypoint, mode: 0o755, data: bin}}})

	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	for i, ls := range layers {
		l, err := layer(ls.files, o.epoch)
		if err != nil {
			return nil, fmt.Errorf("layer %d: %w", i, err)
		}
		img, err = mutate.Append(img, mutate.Addendum{
			Layer:     l,
			MediaType: types.OCILayer,
			History:   v1.History{Created: v1.Time{Time: o.epoch}, CreatedBy: "imagebuild", Comment: ls.comment},
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
	cf.OS, cf.Architecture = "linux", o.arch
	cf.Created = v1.Time{Time: o.epoch}
	cf.Config.Entrypoint = []string{o.entrypoint}
	cf.Config.User = fmt.Sprintf("%d:%d", nonrootUID, nonrootGID)
	cf.Config.WorkingDir = "/home/nonroot"
	cf.Config.Env = env
	cf.Config.Labels = map[string]string{
		"org.opencontainers.image.source":      "https://github.com/sortographer/sortographer",
		"org.opencontainers.image.ref.name":    o.tag,
		"org.opencontainers.image.description": "Sortographer " + path.Base(o.entrypoint),
	}
	return mutate.ConfigFile(img, cf)
}

// onnxRuntimeLib picks the library file the gallery should dlopen: the shortest name
// (libonnxruntime.so before libonnxruntime.so.1.x).
func onnxRuntimeLib(files []file) string {
	best := ""
	for _, f := range files {
		if strings.HasPrefix(path.Base(f.name), "libonnxruntime") && (best == "" || len(f.name) < len(best)) {
			best = f.name
		}
	}
	return best
}

// isDynamic reports whether an ELF executable needs a loader (has PT_INTERP).
func isDynamic(p string) (bool, error) {
	f, err := elf.Open(p)
	if err != nil {
		return false, err
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			return true, nil
		}
	}
	return false, nil
}

// sharedLibraries are the libraries (and the loader) that ldd resolves for the given
// ELF files on this machine, at the same paths in the image.
func sharedLibraries(elfs []string) ([]file, error) {
	seen := map[string]bool{}
	var out []file
	for _, e := range elfs {
		res, err := exec.Command("ldd", e).Output()
		if err != nil {
			return nil, fmt.Errorf("ldd %s (is it a shared object for this machine?): %w", e, err)
		}
		for _, line := range strings.Split(string(res), "\n") {
			// "libm.so.6 => /lib/x86_64-linux-gnu/libm.so.6 (0x…)" or "/lib64/ld-linux-x86-64.so.2 (0x…)"
			fields := strings.Fields(line)
			var p string
			switch {
			case len(fields) >= 3 && fields[1] == "=>" && path.IsAbs(fields[2]):
				p = fields[2]
			case len(fields) >= 1 && path.IsAbs(fields[0]):
				p = fields[0]
			}
			if p == "" || seen[p] {
				continue
			}
			seen[p] = true
			real, err := filepath.EvalSymlinks(p)
			if err != nil {
				return nil, err
			}
			b, err := os.ReadFile(real)
			if err != nil {
				return nil, err
			}
			out = append(out, file{name: p, mode: 0o755, data: b})
		}
	}
	return out, nil
}

// layer writes files (and their parent folders, root-owned 0755) into a tar, sorted,
// with every timestamp at epoch.
func layer(files []file, epoch time.Time) (v1.Layer, error) {
	entries := map[string]file{}
	for _, f := range files {
		for d := path.Dir(f.name); d != "/"; d = path.Dir(d) {
			if _, ok := entries[d]; !ok {
				entries[d] = file{name: d, mode: 0o755, dir: true}
			}
		}
		entries[f.name] = f
	}
	names := make([]string, 0, len(entries))
	for n := range entries {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range names {
		f := entries[n]
		h := &tar.Header{
			Name: strings.TrimPrefix(n, "/"), Mode: f.mode, Uid: f.uid, Gid: f.gid,
			ModTime: epoch, Format: tar.FormatPAX, Typeflag: tar.TypeReg, Size: int64(len(f.data)),
		}
		switch {
		case f.dir:
			h.Typeflag, h.Name, h.Size = tar.TypeDir, h.Name+"/", 0
		case f.link != "":
			h.Typeflag, h.Linkname, h.Size = tar.TypeSymlink, f.link, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(f.data); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	raw := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil },
		tarball.WithMediaType(types.OCILayer))
}

// writeOCIArchive writes img as an OCI image layout, tarred into one file, with tag as
// its org.opencontainers.image.ref.name.
func writeOCIArchive(out, tag string, img v1.Image) error {
	dir, err := os.MkdirTemp("", "imagebuild-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": tag})); err != nil {
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
	return err
}

// readOCIArchive opens the single image of an archive that writeOCIArchive wrote.
func readOCIArchive(archive string) (v1.Image, string, error) {
	dir, err := os.MkdirTemp("", "imagebuild-read-*")
	if err != nil {
		return nil, "", err
	}
	f, err := os.Open(archive)
	if err != nil {
		return nil, "", err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, "", err
		}
		target := filepath.Join(dir, filepath.FromSlash(h.Name))
		if !strings.HasPrefix(target, dir) {
			return nil, "", fmt.Errorf("bad path %s in archive", h.Name)
		}
		if h.Typeflag == tar.TypeDir {
			if err := os.MkdirAll(target, 0o755); err != nil {
				return nil, "", err
			}
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return nil, "", err
		}
		if err := os.WriteFile(target, b, 0o644); err != nil {
			return nil, "", err
		}
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, "", err
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, "", err
	}
	if len(m.Manifests) != 1 {
		return nil, "", fmt.Errorf("want one image in %s, found %d", archive, len(m.Manifests))
	}
	img, err := idx.Image(m.Manifests[0].Digest)
	return img, m.Manifests[0].Annotations["org.opencontainers.image.ref.name"], err
}

// inspect prints an archive's reference, configuration and each layer's files.
func inspect(w io.Writer, archive string) error {
	img, ref, err := readOCIArchive(archive)
	if err != nil {
		return err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	d, _ := img.Digest()
	fmt.Fprintf(w, "%s\n  digest %s\n  entrypoint %v user %s os/arch %s/%s\n  env %v\n", ref, d, cf.Config.Entrypoint, cf.Config.User, cf.OS, cf.Architecture, cf.Config.Env)
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	for i, l := range layers {
		files, err := layerFiles(l)
		if err != nil {
			return err
		}
		size, _ := l.Size()
		fmt.Fprintf(w, "  layer %d (%d bytes compressed):\n", i, size)
		for _, h := range files {
			fmt.Fprintf(w, "    %s %d:%d %6o %d\n", h.Name, h.Uid, h.Gid, h.Mode, h.Size)
		}
	}
	return nil
}

// layerFiles lists a layer's tar headers.
func layerFiles(l v1.Layer) ([]*tar.Header, error) {
	rc, err := l.Uncompressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var out []*tar.Header
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
}
