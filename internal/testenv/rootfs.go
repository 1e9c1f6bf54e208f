package testenv

import (
	"archive/tar"
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"syscall"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// UnpackImage unpacks an image's filesystem (mutate.Extract: the layers applied in
// order) into a new folder, with owners and modes, and adds what a container runtime
// gives every container and an image does not ship: device nodes and /etc/hosts. It is
// the root that the tests of hack/baseimages and hack/imagebuild run an image's programs
// in, chrooted, to prove the image self-contained. It needs root (owners, mknod).
func UnpackImage(t testing.TB, img v1.Image) string {
	t.Helper()
	root := t.TempDir()
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		name := path.Clean("/" + h.Name)
		if name == "/" {
			continue
		}
		belowSymlink(t, root, name)
		target := filepath.Join(root, filepath.FromSlash(name))
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(target, 0o755)
		case tar.TypeReg:
			var f *os.File
			if f, err = os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600); err == nil {
				_, err = io.Copy(f, tr)
				if cerr := f.Close(); err == nil {
					err = cerr
				}
			}
		case tar.TypeSymlink:
			err = os.Symlink(h.Linkname, target)
		default:
			t.Fatalf("%s: unexpected tar entry type %c", name, h.Typeflag)
		}
		if err == nil {
			err = os.Lchown(target, h.Uid, h.Gid)
		}
		if err == nil && h.Typeflag != tar.TypeSymlink {
			// After chown, which clears setuid and setgid.
			err = os.Chmod(target, h.FileInfo().Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky))
		}
		if err != nil {
			t.Fatalf("extract %s: %v", name, err)
		}
	}
	addRuntimeFiles(t, root)
	return root
}

// belowSymlink fails when a folder of name, inside root, is a symlink: writing through
// an absolute one would write to this machine's root.
func belowSymlink(t testing.TB, root, name string) {
	t.Helper()
	for d := path.Dir(name); d != "/"; d = path.Dir(d) {
		if fi, err := os.Lstat(filepath.Join(root, d)); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
			t.Fatalf("the image has %s below the symlink %s", name, d)
		}
	}
}

// addRuntimeFiles adds what a container runtime gives every container and an image does
// not ship: device nodes and /etc/hosts (the kubelet's names localhost and the pod).
func addRuntimeFiles(t testing.TB, root string) {
	t.Helper()
	dev := filepath.Join(root, "dev")
	if err := os.MkdirAll(dev, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, minor := range map[string]int{"null": 3, "zero": 5, "full": 7, "random": 8, "urandom": 9} {
		p := filepath.Join(dev, name)
		if err := syscall.Mknod(p, syscall.S_IFCHR|0o666, 1<<8|minor); err != nil {
			t.Fatalf("mknod %s (needs root): %v", p, err)
		}
		if err := os.Chmod(p, 0o666); err != nil {
			t.Fatal(err)
		}
	}
	hostname, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	hosts := "127.0.0.1\tlocalhost\n::1\tlocalhost\n127.0.1.1\t" + hostname + "\n"
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "etc", "hosts"), []byte(hosts), 0o644); err != nil {
		t.Fatal(err)
	}
}
