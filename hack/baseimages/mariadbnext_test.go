package main

import (
	"io/fs"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
	"github.com/sortographer/sortographer/internal/ociarchive"
	"github.com/sortographer/sortographer/internal/testenv"
)

// The archive mariadb-next.tar is built by run from trixie's packages, fetched through
// the cache (${SORTOGRAPHER_CACHE:-~/.cache/sortographer}/debs/trixie): the first run
// needs deb.debian.org.

// openMariaDBNext reads mariadb-next.tar, which must be tagged with the major.minor
// of the version its label gives.
func openMariaDBNext(t *testing.T) (v1.Image, *v1.ConfigFile, string) {
	t.Helper()
	_, annotations, err := ociarchive.Read(filepath.Join(archives(t), "mariadb-next.tar"), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	v := strings.Split(annotations["org.opencontainers.image.version"], ".")
	if len(v) < 3 {
		t.Fatalf("mariadb-next.tar: version %q is not major.minor.patch", annotations["org.opencontainers.image.version"])
	}
	ref := galleryv1alpha1.DefaultMariaDBRepository + ":" + v[0] + "." + v[1]
	img, cf := openArchive(t, "mariadb-next.tar", ref)
	return img, cf, ref
}

// TestMariaDBNextImage: mariadb-next.tar holds a MariaDB of a newer major version than
// mariadb.tar's, from trixie's packages, laid out as mariadb.tar is; every command the
// operator's pod and mariadb-upgrade run is in it, and every ELF file's loader and
// libraries (DT_NEEDED) resolve inside the image.
func TestMariaDBNextImage(t *testing.T) {
	img, cf, ref := openMariaDBNext(t)
	_, current := openArchive(t, "mariadb.tar", mariadbRef)
	next := cf.Config.Labels["org.opencontainers.image.version"]
	if major(next) <= major(current.Config.Labels["org.opencontainers.image.version"]) {
		t.Errorf("mariadb-next.tar has MariaDB %s, mariadb.tar %s: want a newer major version", next, current.Config.Labels["org.opencontainers.image.version"])
	}
	if !strings.HasPrefix(ref, "docker.io/library/mariadb:") || ref == mariadbRef {
		t.Errorf("mariadb-next.tar is tagged %s", ref)
	}
	listed := " " + cf.Config.Labels["io.sortographer.debian-packages"]
	for _, p := range []string{"mariadb-server-core", "mariadb-client-core", "mariadb-client", "mariadb-client-compat", "dash", "coreutils", "sed", "mawk", "libc6"} {
		if !strings.Contains(listed, " "+p+"=") {
			t.Errorf("io.sortographer.debian-packages lacks %s: %s", p, listed)
		}
	}
	if !strings.Contains(listed, " mariadb-server-core=1:"+next) {
		t.Errorf("io.sortographer.debian-packages does not list mariadb-server-core %s: %s", next, listed)
	}

	headers := layerHeaders(t, img)
	checkHeaders(t, headers, map[string]want{
		"bin":                {"-> usr/bin", 0o777, 0, 0},
		"lib64":              {"-> usr/lib64", 0o777, 0, 0},
		"usr/sbin/mysqld":    {"-> mariadbd", 0o777, 0, 0},
		"usr/bin/awk":        {"-> mawk", 0o777, 0, 0},
		"usr/bin/mysqlcheck": {"-> mariadb-check", 0o777, 0, 0},
		"etc/mysql/my.cnf":   {"file", 0o644, 0, 0},
		"var/lib/mysql":      {"dir", 0o755, 999, 999},
		"run/mysqld":         {"dir", 0o755, 999, 999},
		"tmp":                {"dir", 0o1777, 0, 0},
		"usr/share/mariadb/mariadb_system_tables.sql": {"file", 0o644, 0, 0},
		"usr/share/mariadb/english/errmsg.sys":        {"file", 0o644, 0, 0},
		"usr/share/mariadb/charsets/Index.xml":        {"file", 0o644, 0, 0},
		"usr/share/doc/mariadb-server-core/copyright": {"file", 0o644, 0, 0},
		"usr/share/doc/libc6/copyright":               {"file", 0o644, 0, 0},
	})
	if passwd := fileContent(t, img, "etc/passwd"); !strings.Contains(passwd, "\nmysql:x:999:999:mysql:/var/lib/mysql:/usr/sbin/nologin\n") {
		t.Errorf("/etc/passwd has no mysql 999:\n%s", passwd)
	}

	root := hostTree{root: testenv.UnpackImage(t, img)}
	for _, cmd := range []string{
		"/usr/sbin/mariadbd", "/usr/bin/mariadb", "/usr/bin/mariadb-admin", "/usr/bin/mariadb-upgrade",
		"/usr/bin/mariadb-install-db", "/usr/bin/mariadb-check", "/usr/bin/my_print_defaults",
		"/bin/sh", "/usr/bin/sed", "/usr/bin/sleep", "/usr/bin/cat", "/usr/bin/env", "/usr/bin/rm", "/usr/bin/mv", "/usr/bin/awk",
	} {
		resolved, _, err := root.resolve(cmd, true)
		if err != nil {
			t.Errorf("%s: %v", cmd, err)
			continue
		}
		if fi, err := root.lstat(resolved); err != nil || !fi.Mode().IsRegular() || fi.Mode()&0o111 == 0 {
			t.Errorf("%s (%s) is not an executable file: %v", cmd, resolved, err)
		}
	}
	elfFiles := 0
	err := filepath.WalkDir(root.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		name := "/" + filepath.ToSlash(strings.TrimPrefix(p, root.root+string(filepath.Separator)))
		f, err := openELF(p)
		if f == nil || err != nil {
			return err
		}
		f.Close()
		elfFiles++
		needs, err := root.elfNeeds(name, systemLibraryDirs[runtime.GOARCH])
		if err != nil {
			t.Errorf("%s: %v", name, err)
			return nil
		}
		for _, n := range needs {
			if _, _, err := root.resolve(n, true); err != nil {
				t.Errorf("%s needs %s, which is not in the image: %v", name, n, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if elfFiles < 20 {
		t.Errorf("only %d ELF files in the image", elfFiles)
	}
}

// major is a version's major number: 11 for 11.8.9, -1 if it has none.
func major(v string) int {
	m, _, _ := strings.Cut(v, ".")
	n, err := strconv.Atoi(m)
	if err != nil {
		return -1
	}
	return n
}

// TestMariaDBNextIsReproducible: staging trixie's packages again (from the cache) and
// building gives the archive's digest.
func TestMariaDBNextIsReproducible(t *testing.T) {
	archived, _, _ := openMariaDBNext(t)
	out := t.TempDir()
	if err := writeMariaDBNext(out, "http://deb.debian.org/debian", time.Unix(0, 0)); err != nil {
		t.Fatal(err)
	}
	again, _, err := ociarchive.Read(filepath.Join(out, "mariadb-next.tar"), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	d1, err1 := archived.Digest()
	d2, err2 := again.Digest()
	if err1 != nil || err2 != nil || d1 != d2 {
		t.Errorf("rebuilt digest %s (%v), archive's %s (%v)", d2, err2, d1, err1)
	}
}
