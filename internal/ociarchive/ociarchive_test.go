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
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// headers lists a tar's entries as "name mode uid:gid kind size".
func headers(t *testing.T, r io.Reader, epoch time.Time) []string {
	t.Helper()
	var got []string
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return got
		}
		if err != nil {
			t.Fatal(err)
		}
		kind := map[byte]string{tar.TypeReg: "file", tar.TypeDir: "dir", tar.TypeSymlink: "-> " + h.Linkname}[h.Typeflag]
		got = append(got, fmt.Sprintf("%s %o %d:%d %s %d", h.Name, h.Mode, h.Uid, h.Gid, kind, h.Size))
		if !h.ModTime.Equal(epoch) {
			t.Errorf("%s modified %v, want %v", h.Name, h.ModTime, epoch)
		}
	}
}

func TestLayerTar(t *testing.T) {
	epoch := time.Unix(1000, 0)
	src := filepath.Join(t.TempDir(), "content")
	if err := os.WriteFile(src, []byte("from disk"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		entries []Entry
		want    []string
		wantErr bool
	}{
		{
			name: "implied folders, setuid and sticky",
			entries: []Entry{
				{Name: "/usr/bin/tool", Mode: 0o755 | fs.ModeSetuid, Data: []byte("x")},
				{Name: "/tmp", Mode: 0o777 | fs.ModeSticky, Dir: true},
				{Name: "/bin", Mode: 0o777, Link: "usr/bin"},
				{Name: "/data", Mode: 0o750, Dir: true, UID: 999, GID: 999},
			},
			want: []string{"bin 777 0:0 -> usr/bin 0", "data/ 750 999:999 dir 0", "tmp/ 1777 0:0 dir 0", "usr/ 755 0:0 dir 0", "usr/bin/ 755 0:0 dir 0", "usr/bin/tool 4755 0:0 file 1"},
		},
		{
			name: "content from a file, setgid; a given folder replaces the implied one",
			entries: []Entry{
				{Name: "/etc/app/conf", Mode: 0o640 | fs.ModeSetgid, Src: src},
				{Name: "/etc", Mode: 0o700, Dir: true, UID: 1, GID: 2},
			},
			want: []string{"etc/ 700 1:2 dir 0", "etc/app/ 755 0:0 dir 0", "etc/app/conf 2640 0:0 file 9"},
		},
		{
			name: "the same name twice: the last",
			entries: []Entry{
				{Name: "/a", Mode: 0o644, Data: []byte("first")},
				{Name: "/a", Mode: 0o600, Data: []byte("2nd")},
			},
			want: []string{"a 600 0:0 file 3"},
		},
		{
			name:    "no entries",
			entries: nil,
			want:    nil,
		},
		{
			name: "an entry below a symlink",
			entries: []Entry{
				{Name: "/bin", Mode: 0o777, Link: "usr/bin"},
				{Name: "/bin/sh", Mode: 0o755, Data: []byte("x")},
			},
			wantErr: true,
		},
		{
			name: "an entry below a file",
			entries: []Entry{
				{Name: "/etc/passwd", Mode: 0o644, Data: []byte("x")},
				{Name: "/etc/passwd/x", Mode: 0o644},
			},
			wantErr: true,
		},
		{
			name:    "a missing source file",
			entries: []Entry{{Name: "/x", Mode: 0o644, Src: filepath.Join(t.TempDir(), "missing")}},
			wantErr: true,
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			raw, err := layerTar(c.entries, epoch)
			if (err != nil) != c.wantErr {
				t.Fatalf("layerTar error = %v, want error %v", err, c.wantErr)
			}
			if err != nil {
				return
			}
			if got := headers(t, bytes.NewReader(raw), epoch); !reflect.DeepEqual(got, c.want) {
				t.Errorf("layer\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
		})
	}
}

func TestSourceDateEpoch(t *testing.T) {
	for _, c := range []struct {
		env     string
		want    time.Time
		wantErr bool
	}{
		{"", time.Unix(0, 0), false},
		{"1748736000", time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC), false},
		{"yesterday", time.Time{}, true},
	} {
		got, err := SourceDateEpoch(c.env)
		if (err != nil) != c.wantErr || !got.Equal(c.want) {
			t.Errorf("SourceDateEpoch(%q) = %v, %v; want %v", c.env, got, err, c.want)
		}
	}
}

// TestImageWriteRead builds images, writes each archive and reads it back: the digest,
// the annotations, the configuration and the layers survive; the same inputs give the
// same digest and archive, another epoch or level another digest.
func TestImageWriteRead(t *testing.T) {
	epoch := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	layers := []Layer{
		{Comment: "base", Entries: []Entry{{Name: "/etc/passwd", Mode: 0o644, Data: []byte("root:x:0:0::/:/bin/sh\n")}}},
		{Comment: "binary", Entries: []Entry{{Name: "/app", Mode: 0o755, Data: bytes.Repeat([]byte("binary "), 1000)}}},
	}
	cfg := v1.Config{Entrypoint: []string{"/app"}, User: "65532:65532", Labels: map[string]string{"k": "v"}}
	for _, c := range []struct {
		name            string
		annotations     map[string]string
		wantAnnotations map[string]string
	}{
		{"ref only", nil, map[string]string{RefName: "example.com/app:1"}},
		{"with annotations", map[string]string{"io.containerd.image.name": "example.com/app:1", "org.opencontainers.image.version": "1.2"},
			map[string]string{RefName: "example.com/app:1", "io.containerd.image.name": "example.com/app:1", "org.opencontainers.image.version": "1.2"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			img, err := Image(layers, cfg, "arm64", "test", epoch, gzip.BestSpeed)
			if err != nil {
				t.Fatal(err)
			}
			archive := filepath.Join(t.TempDir(), "sub", "app.tar")
			if err := Write(archive, "example.com/app:1", img, c.annotations); err != nil {
				t.Fatal(err)
			}
			got, annotations, err := Read(archive, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(annotations, c.wantAnnotations) {
				t.Errorf("annotations %v, want %v", annotations, c.wantAnnotations)
			}
			want, _ := img.Digest()
			if d, _ := got.Digest(); d != want {
				t.Errorf("read digest %s, wrote %s", d, want)
			}
			if mt, _ := got.MediaType(); mt != types.OCIManifestSchema1 {
				t.Errorf("manifest media type %s", mt)
			}
			cf, err := got.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			if cf.OS != "linux" || cf.Architecture != "arm64" || !cf.Created.Equal(epoch) ||
				!reflect.DeepEqual(cf.Config.Entrypoint, cfg.Entrypoint) || cf.Config.User != cfg.User || cf.Config.Labels["k"] != "v" {
				t.Errorf("config %+v", cf)
			}
			if len(cf.History) != 2 || cf.History[1].Comment != "binary" || cf.History[1].CreatedBy != "test" || !cf.History[1].Created.Equal(epoch) {
				t.Errorf("history %+v", cf.History)
			}
			ls, err := got.Layers()
			if err != nil {
				t.Fatal(err)
			}
			var files [][]string
			for _, l := range ls {
				if mt, _ := l.MediaType(); mt != types.OCILayer {
					t.Errorf("layer media type %s", mt)
				}
				rc, err := l.Uncompressed()
				if err != nil {
					t.Fatal(err)
				}
				files = append(files, headers(t, rc, epoch))
				rc.Close()
			}
			if wantFiles := [][]string{{"etc/ 755 0:0 dir 0", "etc/passwd 644 0:0 file 22"}, {"app 755 0:0 file 7000"}}; !reflect.DeepEqual(files, wantFiles) {
				t.Errorf("layers %v, want %v", files, wantFiles)
			}

			// Reproducible: the same inputs give the same digest and the same archive.
			again := filepath.Join(t.TempDir(), "again.tar")
			if err := Write(again, "example.com/app:1", img, c.annotations); err != nil {
				t.Fatal(err)
			}
			a, _ := os.ReadFile(archive)
			b, _ := os.ReadFile(again)
			if !bytes.Equal(a, b) {
				t.Error("writing the same image twice gave different archives")
			}
			for _, other := range []struct {
				epoch time.Time
				level int
			}{{epoch, gzip.BestSpeed}, {epoch.Add(time.Second), gzip.BestSpeed}, {epoch, gzip.BestCompression}} {
				img2, err := Image(layers, cfg, "arm64", "test", other.epoch, other.level)
				if err != nil {
					t.Fatal(err)
				}
				d, _ := img2.Digest()
				if same := other.epoch.Equal(epoch) && other.level == gzip.BestSpeed; (d == want) != same {
					t.Errorf("epoch %v level %d: digest %s, first %s", other.epoch, other.level, d, want)
				}
			}
		})
	}
}

func TestReadRefusesPathsOutsideDir(t *testing.T) {
	archive := filepath.Join(t.TempDir(), "bad.tar")
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: "../escape", Mode: 0o644, Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(archive, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Read(archive, t.TempDir()); err == nil || !strings.Contains(err.Error(), "bad path") {
		t.Errorf("Read error %v, want bad path", err)
	}
}
