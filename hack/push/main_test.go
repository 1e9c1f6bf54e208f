package main

import (
	"compress/gzip"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/sortographer/sortographer/internal/ociarchive"
	"github.com/sortographer/sortographer/internal/testservers"
)

// archive is an image archive a test writes: its file name, the reference it records and
// the architecture of its one image.
type archive struct{ file, ref, arch string }

// write builds a one-file image for linux/arch, as `make images` would for that
// architecture, writes it to dir, and returns the archive's path and the image's digest.
func (a archive) write(t *testing.T, dir string) (string, v1.Hash) {
	t.Helper()
	layers := []ociarchive.Layer{{Comment: "app", Entries: []ociarchive.Entry{
		{Name: "/app", Mode: 0o755, Data: []byte("built for " + a.arch + " as " + a.ref)},
	}}}
	img, err := ociarchive.Image(layers, v1.Config{Entrypoint: []string{"/app"}}, a.arch, "test", time.Unix(0, 0), gzip.BestSpeed)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, a.file)
	if err := ociarchive.Write(p, a.ref, img, nil); err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return p, d
}

// runPush runs the command with args and returns the lines it printed.
func runPush(t *testing.T, args ...string) []string {
	t.Helper()
	var out strings.Builder
	if err := run(context.Background(), args, &out); err != nil {
		t.Fatalf("push %s: %v", strings.Join(args, " "), err)
	}
	return strings.Split(strings.TrimSpace(out.String()), "\n")
}

// pulled is what the registry serves for a reference.
type pulled struct {
	mediaType types.MediaType
	digest    v1.Hash
	// children are an index's manifests as "os/arch digest".
	children []string
}

func pull(t *testing.T, ref string) pulled {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Get(r)
	if err != nil {
		t.Fatalf("pull %s: %v", ref, err)
	}
	p := pulled{mediaType: desc.MediaType, digest: desc.Digest}
	if !desc.MediaType.IsIndex() {
		return p
	}
	idx, err := desc.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range m.Manifests {
		if c.Platform == nil {
			t.Fatalf("%s: manifest %s has no platform", ref, c.Digest)
		}
		p.children = append(p.children, c.Platform.String()+" "+c.Digest.String())
	}
	return p
}

// TestPush pushes archives as `make push` does and pulls back what the registry serves:
// each archive's image under its target reference with the digest printed, and archives
// recording one reference for several platforms as one index listing each platform.
func TestPush(t *testing.T) {
	reg := testservers.Registry(t)
	for _, c := range []struct {
		name     string
		flags    []string
		archives []archive
		// want are the pushed references below the registry host, in the order printed,
		// each with the indexes of the archives it holds: one is a plain image, more an
		// index of them in that order.
		want []string
		from [][]int
	}{
		{
			name:  "one archive: the last path element",
			flags: []string{"-registry", reg.Host + "/plain"},
			archives: []archive{
				{"gallery.tar", "ghcr.io/sortographer/sortographer:v0.2.0", "amd64"},
			},
			want: []string{"plain/sortographer:v0.2.0"},
			from: [][]int{{0}},
		},
		{
			name:  "-keep-path and -insecure: the whole repository path, docker.io's library/ too",
			flags: []string{"-registry", reg.Host + "/mirror/", "-keep-path", "-insecure"},
			archives: []archive{
				{"redis.tar", "docker.io/library/redis:7.4-alpine", "amd64"},
				{"gallery.tar", "ghcr.io/sortographer/sortographer:v0.2.0", "amd64"},
			},
			want: []string{"mirror/library/redis:7.4-alpine", "mirror/sortographer/sortographer:v0.2.0"},
			from: [][]int{{0}, {1}},
		},
		{
			name:  "two platforms of one reference: an index; another reference stays an image",
			flags: []string{"-registry", reg.Host + "/multi"},
			archives: []archive{
				{"manager-amd64.tar", "ghcr.io/sortographer/sortographer-operator:v0.2.0", "amd64"},
				{"gallery.tar", "ghcr.io/sortographer/sortographer:v0.2.0", "amd64"},
				{"manager-arm64.tar", "ghcr.io/sortographer/sortographer-operator:v0.2.0", "arm64"},
			},
			want: []string{"multi/sortographer-operator:v0.2.0", "multi/sortographer:v0.2.0"},
			from: [][]int{{0, 2}, {1}},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			args := append([]string{}, c.flags...)
			digests := make([]v1.Hash, len(c.archives))
			for i, a := range c.archives {
				var p string
				p, digests[i] = a.write(t, dir)
				args = append(args, p)
			}
			lines := runPush(t, args...)
			if len(lines) != len(c.want) {
				t.Fatalf("printed %q, want %d lines", lines, len(c.want))
			}
			for i, rel := range c.want {
				ref := reg.Host + "/" + rel
				got := pull(t, ref)
				if want := ref + "@" + got.digest.String(); lines[i] != want {
					t.Errorf("printed %q, want %q", lines[i], want)
				}
				from := c.from[i]
				if len(from) == 1 {
					if got.mediaType != types.OCIManifestSchema1 || got.digest != digests[from[0]] {
						t.Errorf("%s is %s %s, want the image %s", ref, got.mediaType, got.digest, digests[from[0]])
					}
					continue
				}
				var want []string
				for _, j := range from {
					want = append(want, "linux/"+c.archives[j].arch+" "+digests[j].String())
				}
				if got.mediaType != types.OCIImageIndex || !reflect.DeepEqual(got.children, want) {
					t.Errorf("%s is %s of %q, want an index of %q", ref, got.mediaType, got.children, want)
				}
			}
		})
	}
}

// TestCopy copies an index and an image between repositories of one registry, as an
// admin copies Redis and MariaDB into an air-gapped cluster's registry: the digests
// stay, an index keeps every platform.
func TestCopy(t *testing.T) {
	reg := testservers.Registry(t)
	dir := t.TempDir()
	amd64, amd64Digest := archive{"app-amd64.tar", "example.com/team/app:v1", "amd64"}.write(t, dir)
	arm64, arm64Digest := archive{"app-arm64.tar", "example.com/team/app:v1", "arm64"}.write(t, dir)
	single, singleDigest := archive{"tool.tar", "example.com/team/tool:v2", "amd64"}.write(t, dir)
	runPush(t, "-registry", reg.Host+"/upstream", amd64, arm64, single)
	app, tool := reg.Host+"/upstream/app:v1", reg.Host+"/upstream/tool:v2"
	indexDigest := pull(t, app).digest

	lines := runPush(t, "-registry", reg.Host+"/airgap",
		"-copy", app+"=copied/app",
		"-copy", tool+"=tools/tool:stable",
		"-copy", app,
	)
	for i, c := range []struct {
		ref    string
		digest v1.Hash
		index  bool
	}{
		{reg.Host + "/airgap/copied/app:v1", indexDigest, true},
		{reg.Host + "/airgap/tools/tool:stable", singleDigest, false},
		{reg.Host + "/airgap/app:v1", indexDigest, true},
	} {
		if want := c.ref + "@" + c.digest.String(); i >= len(lines) || lines[i] != want {
			t.Errorf("line %d of %q, want %q", i, lines, want)
		}
		got := pull(t, c.ref)
		if got.digest != c.digest {
			t.Errorf("%s has digest %s, want %s", c.ref, got.digest, c.digest)
		}
		if !c.index {
			continue
		}
		want := []string{"linux/amd64 " + amd64Digest.String(), "linux/arm64 " + arm64Digest.String()}
		if !reflect.DeepEqual(got.children, want) {
			t.Errorf("%s lists %q, want %q", c.ref, got.children, want)
		}
	}
}

// TestErrors checks that each failure names what failed: the archive, the reference.
func TestErrors(t *testing.T) {
	dir := t.TempDir()
	notTar := filepath.Join(dir, "broken.tar")
	if err := os.WriteFile(notTar, []byte("not an archive"), 0o644); err != nil {
		t.Fatal(err)
	}
	noRef, _ := archive{"noref.tar", "", "amd64"}.write(t, dir)
	amd64, _ := archive{"manager-amd64.tar", "ghcr.io/sortographer/sortographer-operator:v0.2.0", "amd64"}.write(t, dir)
	amd64Again, _ := archive{"manager-again.tar", "ghcr.io/sortographer/sortographer-operator:v0.2.0", "amd64"}.write(t, dir)
	otherOwner, _ := archive{"fork.tar", "docker.io/someone/sortographer-operator:v0.2.0", "arm64"}.write(t, dir)
	// Port 1 on loopback refuses connections at once.
	const closed = "127.0.0.1:1"
	for _, c := range []struct {
		name string
		args []string
		want []string
	}{
		{"no -registry", []string{amd64}, []string{"-registry is required"}},
		{"a flag after the archives", []string{"-registry", closed, amd64, "-keep-path"}, []string{"-keep-path after the archives"}},
		{"nothing to push", []string{"-registry", closed}, []string{"nothing to push"}},
		{"a bad archive", []string{"-registry", closed, notTar}, []string{notTar}},
		{"a missing archive", []string{"-registry", closed, filepath.Join(dir, "missing.tar")}, []string{"missing.tar", "no such file"}},
		{"no recorded reference", []string{"-registry", closed, noRef}, []string{noRef, "records no reference"}},
		{"one platform twice", []string{"-registry", closed, amd64, amd64Again},
			[]string{amd64, amd64Again, "ghcr.io/sortographer/sortographer-operator:v0.2.0", "linux/amd64"}},
		{"two references, one target", []string{"-registry", closed, amd64, otherOwner},
			[]string{"ghcr.io/sortographer/sortographer-operator:v0.2.0", "someone/sortographer-operator:v0.2.0", "-keep-path"}},
		{"a bad -registry", []string{"-registry", "Not A Host", amd64}, []string{amd64, "ghcr.io/sortographer/sortographer-operator:v0.2.0", "Not A Host"}},
		{"an unreachable registry", []string{"-registry", closed + "/x", amd64},
			[]string{amd64, "ghcr.io/sortographer/sortographer-operator:v0.2.0", closed + "/x/sortographer-operator:v0.2.0", "connection refused"}},
		{"a bad -copy source", []string{"-registry", closed, "-copy", "UPPER/case:x"}, []string{"-copy UPPER/case:x"}},
		{"a -copy by digest without a tag", []string{"-registry", closed, "-copy", "example.com/a@sha256:" + strings.Repeat("0", 64)},
			[]string{"needs =DST with a tag"}},
		{"an unreachable -copy source", []string{"-registry", closed, "-copy", closed + "/a:v1=b"},
			[]string{"copy " + closed + "/a:v1 to " + closed + "/b:v1", "connection refused"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out strings.Builder
			err := run(context.Background(), c.args, &out)
			if err == nil {
				t.Fatalf("no error; printed %q", out.String())
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if out.Len() != 0 {
				t.Errorf("printed %q", out.String())
			}
		})
	}
}
