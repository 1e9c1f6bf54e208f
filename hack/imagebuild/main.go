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
// A dynamically linked binary (the gallery's, which links libvips and loads ONNX Runtime
// through cgo) brings its shared libraries and loader from this machine, found with ldd,
// as do the libraries in -model-dir. -vips-modules adds libvips' run-time modules (the
// gallery's HEIC/AVIF support is one, vips-heif.so, which libvips dlopens at start-up and
// no ldd of the binary finds) with their libraries. With -sysroot (an image for another
// architecture) they come from that folder instead, found by reading each ELF file's
// loader, DT_NEEDED and RUNPATH as the image's loader will (sysroot.go). `imagebuild
// -inspect FILE` prints an archive's layers and configuration. -tessdata adds Tesseract's
// language data (the gallery reads the words in photos through libtesseract, which the
// binary links, so ldd finds it like libvips).
package main

import (
	"archive/tar"
	"compress/gzip"
	"debug/elf"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/sortographer/sortographer/internal/ociarchive"
)

// tessdataDir is where Debian's tesseract-ocr-<lang> packages put the language data and
// Debian's libtesseract5 reads it by default; the image keeps it at the same path. The
// files are the same for every architecture (Architecture: all), so they come from this
// machine even with -sysroot.
const tessdataDir = "/usr/share/tesseract-ocr/5/tessdata"

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
	// vipsModules are the libvips modules to ship ("heif" for vips-heif.so), from
	// vipsModulesDir, the folder this machine's libvips loads them from.
	vipsModules    []string
	vipsModulesDir string
	// sysroot, when set, holds the image architecture's libraries (hack/baseimages
	// -sysroot): shared libraries and libvips modules come from there, not this machine.
	sysroot string
	// tessdata are Tesseract's languages ("eng", "kor") whose <lang>.traineddata the image
	// carries in tessdataDir, read from tessdataSrc.
	tessdata    []string
	tessdataSrc string
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
	vipsModules := flag.String("vips-modules", "", "comma-separated libvips modules to ship with their libraries, e.g. heif for vips-heif.so; empty for none")
	flag.StringVar(&o.sysroot, "sysroot", "", "folder with -arch's Debian libraries (hack/baseimages -sysroot) the shared libraries and libvips modules come from; empty for this machine's")
	tessdata := flag.String("tessdata", "", "comma-separated Tesseract languages whose "+tessdataDir+"/<lang>.traineddata (this machine's, from tesseract-ocr-<lang>) the image carries, e.g. eng,kor; empty for none")
	flag.Parse()
	o.env = env
	if *tessdata != "" {
		o.tessdata, o.tessdataSrc = strings.Split(*tessdata, ","), tessdataDir
	}
	if *vipsModules != "" {
		o.vipsModules = strings.Split(*vipsModules, ",")
		var dir string
		var err error
		if o.sysroot != "" {
			dir, err = sysroot{dir: o.sysroot, arch: o.arch}.vipsModulesDir()
		} else {
			dir, err = libvipsModulesDir() // this machine's pkg-config, only for its own libvips
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "imagebuild:", err)
			os.Exit(1)
		}
		o.vipsModulesDir = dir
	}
	epoch, err := ociarchive.SourceDateEpoch(os.Getenv("SOURCE_DATE_EPOCH"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "imagebuild:", err)
		os.Exit(2)
	}
	o.epoch = epoch
	if o.out == "" || o.tag == "" || o.binary == "" || !path.IsAbs(o.entrypoint) {
		flag.Usage()
		os.Exit(2)
	}
	img, err := build(o)
	if err == nil {
		err = ociarchive.Write(o.out, o.tag, img, nil)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "imagebuild:", err)
		os.Exit(1)
	}
	d, _ := img.Digest()
	fmt.Printf("%s %s %s\n", o.out, o.tag, d)
}

// build assembles the image: a base layer (users, CA certificates, /tmp), a data layer
// (model and shared libraries, when any) and the binary's layer, so a new binary changes
// only the last.
func build(o options) (v1.Image, error) {
	ca, err := os.ReadFile(o.caFile)
	if err != nil {
		return nil, fmt.Errorf("read CA certificates: %w", err)
	}
	base := []ociarchive.Entry{
		{Name: "/etc/passwd", Mode: 0o644, Data: []byte("root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")},
		{Name: "/etc/group", Mode: 0o644, Data: []byte("root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n")},
		{Name: "/etc/nsswitch.conf", Mode: 0o644, Data: []byte("hosts: files dns\n")},
		{Name: "/etc/ssl/certs/ca-certificates.crt", Mode: 0o644, Data: ca},
		{Name: "/home/nonroot", Mode: 0o700, Dir: true, UID: nonrootUID, GID: nonrootGID},
		{Name: "/tmp", Mode: fs.ModeSticky | 0o777, Dir: true},
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
	var data []ociarchive.Entry
	needLibs := map[string]string{} // files whose shared libraries the image must carry: image path → this machine's
	if dynamic {
		needLibs[o.entrypoint] = o.binary
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
				data = append(data, ociarchive.Entry{Name: path.Join(libDir, e.Name()), Mode: 0o755, Data: b})
				needLibs[path.Join(libDir, e.Name())] = src
				continue
			}
			data = append(data, ociarchive.Entry{Name: path.Join(modelDir, e.Name()), Mode: 0o644, Data: b})
		}
		env = append(env, "SORTOGRAPHER_MODEL_DIR="+modelDir)
		if lib := onnxRuntimeLib(data); lib != "" {
			env = append(env, "SORTOGRAPHER_ONNXRUNTIME_LIB="+lib)
		}
	}
	for _, m := range o.vipsModules {
		// At the same path: libvips looks only in its own configure-time libdir.
		name := path.Join(o.vipsModulesDir, "vips-"+m+".so")
		src := filepath.Join(o.sysroot, filepath.FromSlash(name))
		if _, err := os.Stat(src); err != nil {
			return nil, fmt.Errorf("libvips module %s: %w", m, err)
		}
		data = append(data, ociarchive.Entry{Name: name, Mode: 0o644, Src: src})
		needLibs[name] = src
	}
	if len(o.tessdata) > 0 {
		for _, l := range o.tessdata {
			src := filepath.Join(o.tessdataSrc, l+".traineddata")
			if _, err := os.Stat(src); err != nil {
				return nil, fmt.Errorf("tesseract language %s (apt-get install tesseract-ocr-%s): %w", l, l, err)
			}
			data = append(data, ociarchive.Entry{Name: path.Join(tessdataDir, l+".traineddata"), Mode: 0o644, Src: src})
		}
		// OMP_THREAD_LIMIT: Debian's libtesseract runs OpenMP threads that spin while they
		// wait; with one per recognition a photo costs about a quarter of the CPU time
		// (internal/classify/tesseract's BenchmarkReadText). libgomp reads it when it loads.
		env = append(env, "TESSDATA_PREFIX="+tessdataDir, "OMP_THREAD_LIMIT=1")
	}
	if len(needLibs) > 0 {
		var libs []ociarchive.Entry
		if o.sysroot != "" {
			libs, err = sysroot{dir: o.sysroot, arch: o.arch}.libraries(needLibs)
		} else {
			libs, err = sharedLibraries(needLibs)
		}
		if err != nil {
			return nil, err
		}
		data = append(data, libs...)
	}
	env = append(env, o.env...)

	layers := []ociarchive.Layer{{Comment: "base: users, CA certificates, /tmp", Entries: base}}
	if len(data) > 0 {
		layers = append(layers, ociarchive.Layer{Comment: "data: model, shared libraries, libvips modules, Tesseract's language data", Entries: data})
	}
	layers = append(layers, ociarchive.Layer{Comment: "binary", Entries: []ociarchive.Entry{{Name: o.entrypoint, Mode: 0o755, Data: bin}}})

	cfg := v1.Config{
		Entrypoint: []string{o.entrypoint},
		User:       fmt.Sprintf("%d:%d", nonrootUID, nonrootGID),
		WorkingDir: "/home/nonroot",
		Env:        env,
		Labels: map[string]string{
			"org.opencontainers.image.source":      "https://github.com/sortographer/sortographer",
			"org.opencontainers.image.ref.name":    o.tag,
			"org.opencontainers.image.description": "Sortographer " + path.Base(o.entrypoint),
		},
	}
	// gzip's fastest level: what go-containerregistry compresses a layer with by default.
	return ociarchive.Image(layers, cfg, o.arch, "imagebuild", o.epoch, gzip.BestSpeed)
}

// onnxRuntimeLib picks the library file the gallery should dlopen: the shortest name
// (libonnxruntime.so before libonnxruntime.so.1.x).
func onnxRuntimeLib(files []ociarchive.Entry) string {
	best := ""
	for _, f := range files {
		if strings.HasPrefix(path.Base(f.Name), "libonnxruntime") && (best == "" || len(f.Name) < len(best)) {
			best = f.Name
		}
	}
	return best
}

// libvipsModulesDir is the folder this machine's libvips loads its modules from:
// vips-modules-MAJOR.MINOR in its configure-time libdir, which pkg-config reports for
// libvips-dev (the package the gallery binary is built with). libvips looks nowhere
// else unless VIPSHOME is set or the program's argv[0] sits in a <prefix>/bin of its
// own; govips passes "govips", so in the image it is this same folder.
func libvipsModulesDir() (string, error) {
	var got [2]string
	for i, arg := range []string{"--modversion", "--variable=libdir"} {
		out, err := exec.Command("pkg-config", arg, "vips").Output()
		if err != nil {
			return "", fmt.Errorf("find libvips' modules folder: pkg-config %s vips (is libvips-dev installed?): %w", arg, err)
		}
		got[i] = strings.TrimSpace(string(out))
	}
	dir, err := modulesDir(got[0], got[1])
	if err != nil {
		return "", fmt.Errorf("find libvips' modules folder: pkg-config says %w", err)
	}
	return dir, nil
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
// ELF files on this machine (elfs' values), at the same paths in the image.
func sharedLibraries(elfs map[string]string) ([]ociarchive.Entry, error) {
	seen := map[string]bool{}
	var out []ociarchive.Entry
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
			out = append(out, ociarchive.Entry{Name: p, Mode: 0o755, Data: b})
		}
	}
	return out, nil
}

// inspect prints an archive's reference, configuration and each layer's files.
func inspect(w io.Writer, archive string) error {
	dir, err := os.MkdirTemp("", "imagebuild-read-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	img, annotations, err := ociarchive.Read(archive, dir)
	if err != nil {
		return err
	}
	ref := annotations[ociarchive.RefName]
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
