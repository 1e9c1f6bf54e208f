package main

import (
	"archive/tar"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/sortographer/sortographer/internal/ociarchive"
)

// staticBinary compiles a tiny static program, as `make images` compiles the manager.
func staticBinary(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	if err := os.WriteFile(src, []byte("package main\n\nfunc main() { println(\"hello\") }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "hello")
	cmd := exec.Command("go", "build", "-o", out, src)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=", "GO111MODULE=off")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build test binary: %v\n%s", err, b)
	}
	return out
}

func files(t *testing.T, hs []*tar.Header) map[string]*tar.Header {
	m := map[string]*tar.Header{}
	for _, h := range hs {
		m[strings.TrimSuffix(h.Name, "/")] = h
	}
	return m
}

// TestImageArchive builds an image archive the way `make images` does and checks what a
// runtime reads from it: OCI media types, layers and their files, owner and modes, the
// entrypoint and the non-root user; and that building twice gives the same digest.
func TestImageArchive(t *testing.T) {
	bin := staticBinary(t)
	model := t.TempDir()
	for name, data := range map[string]string{"model.onnx": "onnx", "labels.txt": "cat\ndog\n"} {
		if err := os.WriteFile(filepath.Join(model, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	vipsModules, err := libvipsModulesDir()
	if err != nil {
		t.Fatalf("%v (hack/install-deps.sh installs libvips-dev)", err)
	}
	tessdata := t.TempDir()
	for _, l := range []string{"eng", "kor"} {
		if err := os.WriteFile(filepath.Join(tessdata, l+".traineddata"), []byte(l), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		name        string
		modelDir    string
		vipsModules []string
		tessdata    []string
		wantLayers  int
	}{
		{"manager", "", nil, nil, 2},
		{"gallery", model, []string{"heif"}, []string{"eng", "kor"}, 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := options{tag: "example.com/" + c.name + ":test", binary: bin, entrypoint: "/" + c.name,
				caFile: "/etc/ssl/certs/ca-certificates.crt", modelDir: c.modelDir, arch: "amd64", epoch: time.Unix(0, 0),
				vipsModules: c.vipsModules, vipsModulesDir: vipsModules, tessdata: c.tessdata, tessdataSrc: tessdata}
			if _, err := os.Stat(o.caFile); err != nil {
				t.Fatalf("this machine has no CA bundle (apt-get install ca-certificates): %v", err)
			}
			archive := filepath.Join(t.TempDir(), c.name+".tar")
			img, err := build(o)
			if err != nil {
				t.Fatal(err)
			}
			if err := ociarchive.Write(archive, o.tag, img, nil); err != nil {
				t.Fatal(err)
			}

			got, annotations, err := ociarchive.Read(archive, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			if ref := annotations[ociarchive.RefName]; ref != o.tag {
				t.Errorf("ref.name = %q, want %q", ref, o.tag)
			}
			if mt, _ := got.MediaType(); mt != types.OCIManifestSchema1 {
				t.Errorf("manifest media type %s", mt)
			}
			cf, err := got.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			if cf.Config.User != "65532:65532" {
				t.Errorf("user = %q, want 65532:65532 (non-root)", cf.Config.User)
			}
			if len(cf.Config.Entrypoint) != 1 || cf.Config.Entrypoint[0] != o.entrypoint {
				t.Errorf("entrypoint = %v", cf.Config.Entrypoint)
			}
			if cf.OS != "linux" || cf.Architecture != "amd64" {
				t.Errorf("platform %s/%s", cf.OS, cf.Architecture)
			}
			layers, err := got.Layers()
			if err != nil {
				t.Fatal(err)
			}
			if len(layers) != c.wantLayers {
				t.Fatalf("want %d layers, got %d", c.wantLayers, len(layers))
			}
			var all []*tar.Header
			for i, l := range layers {
				if mt, _ := l.MediaType(); mt != types.OCILayer {
					t.Errorf("layer %d media type %s", i, mt)
				}
				hs, err := layerFiles(l)
				if err != nil {
					t.Fatal(err)
				}
				for _, h := range hs {
					if !h.ModTime.Equal(time.Unix(0, 0)) {
						t.Errorf("%s: mtime %v, want the epoch (reproducible)", h.Name, h.ModTime)
					}
					if h.Mode&0o6000 != 0 {
						t.Errorf("%s is setuid/setgid", h.Name)
					}
				}
				all = append(all, hs...)
			}
			fs := files(t, all)
			last, _ := layerFiles(layers[len(layers)-1])
			if len(last) != 1 || last[0].Name != c.name || last[0].Mode != 0o755 {
				t.Errorf("last layer should hold only the binary, 0755: %v", last)
			}
			for _, want := range []string{"etc/passwd", "etc/group", "etc/ssl/certs/ca-certificates.crt", "tmp", "home/nonroot"} {
				if fs[want] == nil {
					t.Errorf("%s missing", want)
				}
			}
			if h := fs["home/nonroot"]; h != nil && (h.Uid != 65532 || h.Gid != 65532) {
				t.Errorf("home/nonroot owned by %d:%d", h.Uid, h.Gid)
			}
			if h := fs["tmp"]; h != nil && h.Mode != 0o1777 {
				t.Errorf("tmp mode %o", h.Mode)
			}
			if c.modelDir != "" {
				for _, want := range []string{"usr/share/sortographer/model/model.onnx", "usr/share/sortographer/model/labels.txt"} {
					if fs[want] == nil {
						t.Errorf("%s missing from the gallery image", want)
					}
				}
				if !strings.Contains(strings.Join(cf.Config.Env, " "), "SORTOGRAPHER_MODEL_DIR=/usr/share/sortographer/model") {
					t.Errorf("env does not point at the model: %v", cf.Config.Env)
				}
			}

			assertVipsModules(t, fs, vipsModules, c.vipsModules)
			env := strings.Join(cf.Config.Env, " ")
			for _, l := range c.tessdata {
				if h := fs["usr/share/tesseract-ocr/5/tessdata/"+l+".traineddata"]; h == nil || h.Mode != 0o644 {
					t.Errorf("%s.traineddata missing from the gallery image, or not 0644", l)
				}
			}
			if hasTess := strings.Contains(env, "TESSDATA_PREFIX=/usr/share/tesseract-ocr/5/tessdata") && strings.Contains(env, "OMP_THREAD_LIMIT=1"); hasTess != (len(c.tessdata) > 0) {
				t.Errorf("env %v: TESSDATA_PREFIX and OMP_THREAD_LIMIT=1 set = %v, want %v", cf.Config.Env, hasTess, len(c.tessdata) > 0)
			}

			// Reproducible: the same inputs give the same digest.
			again, err := build(o)
			if err != nil {
				t.Fatal(err)
			}
			d1, _ := got.Digest()
			d2, _ := again.Digest()
			if d1 != d2 {
				t.Errorf("two builds differ: %s and %s", d1, d2)
			}
		})
	}
}

// assertVipsModules checks that the image holds exactly the libvips modules asked for, in
// the folder this machine's libvips loads them from, and every library each needs.
func assertVipsModules(t *testing.T, fs map[string]*tar.Header, dir string, want []string) {
	t.Helper()
	var shipped []string
	for name := range fs {
		if strings.HasPrefix("/"+name, dir+"/") {
			shipped = append(shipped, strings.TrimSuffix(strings.TrimPrefix(path.Base(name), "vips-"), ".so"))
		}
	}
	sort.Strings(shipped)
	if !slices.Equal(shipped, want) {
		t.Errorf("libvips modules in %s: %q, want %q", dir, shipped, want)
	}
	for _, m := range want {
		module := path.Join(dir, "vips-"+m+".so")
		out, err := exec.Command("ldd", module).Output()
		if err != nil {
			t.Fatalf("ldd %s: %v", module, err)
		}
		for _, line := range strings.Split(string(out), "\n") {
			f := strings.Fields(line)
			if len(f) >= 3 && f[1] == "=>" && path.IsAbs(f[2]) && fs[strings.TrimPrefix(f[2], "/")] == nil {
				t.Errorf("%s needs %s, which the image lacks", module, f[2])
			}
		}
	}
}

// A language asked for without its data fails the build, naming the package.
func TestTessdataMissing(t *testing.T) {
	o := options{tag: "example.com/gallery:test", binary: staticBinary(t), entrypoint: "/gallery",
		caFile: "/etc/ssl/certs/ca-certificates.crt", arch: "amd64", epoch: time.Unix(0, 0),
		tessdata: []string{"xyz"}, tessdataSrc: t.TempDir()}
	if _, err := build(o); err == nil || !strings.Contains(err.Error(), "apt-get install tesseract-ocr-xyz") {
		t.Errorf("build = %v, want the missing language's package named", err)
	}
}
