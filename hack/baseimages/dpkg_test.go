package main

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestInstalledPackages(t *testing.T) {
	status, err := os.ReadFile("testdata/status")
	if err != nil {
		t.Fatal(err)
	}
	got := installedPackages(status)
	want := map[string]installedPackage{
		"redis-server": {name: "redis-server", arch: "amd64", version: "5:7.0.15-1~deb12u10"},
		"libc6":        {name: "libc6", arch: "amd64", version: "2.36-9+deb12u14"},
		"dash":         {name: "dash", arch: "amd64", version: "0.5.12-2"},
		// mysql-server-8.0 is removed (config-files): not installed.
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("installedPackages = %+v, want %+v", got, want)
	}
}

func TestUpstreamVersion(t *testing.T) {
	for _, c := range []struct{ debian, want string }{
		{"5:7.0.15-1~deb12u10", "7.0.15"},
		{"1:10.11.19-0+deb12u1", "10.11.19"},
		{"2.36-9+deb12u14", "2.36"},
		{"3.1-20221030-2", "3.1-20221030"}, // the revision is after the last hyphen
		{"0.5.12", "0.5.12"},               // a native package has no revision
		{"1:2.5.1", "2.5.1"},
		{"1:11.8.9+ds-0+deb13u1", "11.8.9"}, // repacked upstream tarballs
		{"2.4.7+dfsg1-2", "2.4.7"},
		{"1:1.3.dfsg+really1.3.1-1", "1.3.dfsg+really1.3.1"},
	} {
		if got := upstreamVersion(c.debian); got != c.want {
			t.Errorf("upstreamVersion(%q) = %q, want %q", c.debian, got, c.want)
		}
	}
}

// dpkgHost is a merged-/usr root with dpkg's database for libc6 (Multi-Arch: same, so
// its list is libc6:amd64.list), dash and redis-server, listing paths as bookworm's
// packages do (/lib/..., /bin/...).
func dpkgHost(t *testing.T) hostTree {
	t.Helper()
	status, err := os.ReadFile("testdata/status")
	if err != nil {
		t.Fatal(err)
	}
	lists := func(paths ...string) string { return strings.Join(paths, "\n") + "\n" }
	return fakeHost(t, map[string]string{
		"/bin":                                     "-> usr/bin",
		"/lib":                                     "-> usr/lib",
		"/usr/bin/dash":                            "file",
		"/usr/bin/sh":                              "-> dash",
		"/usr/bin/redis-check-rdb":                 "file",
		"/usr/bin/redis-server":                    "-> redis-check-rdb",
		"/usr/lib/x86_64-linux-gnu/libc.so.6":      "file",
		"/usr/share/doc/dash/copyright":            "file",
		"/usr/local/bin/stray":                     "file",
		"/var/lib/dpkg/status":                     string(status),
		"/var/lib/dpkg/info/libc6:amd64.list":      lists("/.", "/lib", "/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu/libc.so.6"),
		"/var/lib/dpkg/info/dash.list":             lists("/.", "/bin", "/bin/dash", "/bin/sh", "/bin/sh.distrib", "/usr", "/usr/share", "/usr/share/doc", "/usr/share/doc/dash", "/usr/share/doc/dash/copyright"),
		"/var/lib/dpkg/info/redis-server.list":     lists("/.", "/usr", "/usr/bin", "/usr/bin/redis-server"),
		"/var/lib/dpkg/info/mysql-server-8.0.list": lists("/.", "/usr/bin/stray"),
	})
}

func TestReadPackageDB(t *testing.T) {
	db, err := readPackageDB(dpkgHost(t))
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		"/usr/lib/x86_64-linux-gnu/libc.so.6": "libc6", // listed as /lib/x86_64-linux-gnu/libc.so.6
		"/usr/bin/dash":                       "dash",  // listed as /bin/dash
		"/usr/bin/sh":                         "dash",
		"/usr/bin/redis-server":               "redis-server",
		"/usr/bin/redis-check-rdb":            "", // listed by redis-tools, not installed here
		"/bin":                                "", // a folder in dash's list
		"/usr/local/bin/stray":                "", // listed only by a removed package
	} {
		if got := db.owners[path]; got != want {
			t.Errorf("owner of %s = %q, want %q", path, got, want)
		}
	}
}

func TestPackageFiles(t *testing.T) {
	h := dpkgHost(t)
	db, err := readPackageDB(h)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		pkg     string
		dirs    []string
		want    []string
		wantErr bool
	}{
		// /bin/sh.distrib is listed but diverted away; /bin itself is a folder.
		{"dash", []string{"/bin", "/usr/bin"}, []string{"/bin/dash", "/bin/sh"}, false},
		{"dash", []string{"/usr/share/doc/"}, []string{"/usr/share/doc/dash/copyright"}, false},
		{"dash", []string{"/usr/bin"}, nil, false}, // as listed: dash lists /bin/dash
		{"libc6", []string{"/lib"}, []string{"/lib/x86_64-linux-gnu/libc.so.6"}, false},
		{"mysql-server-8.0", []string{"/"}, nil, true}, // not installed
	} {
		got, err := db.packageFiles(h, c.pkg, c.dirs)
		if (err != nil) != c.wantErr || !reflect.DeepEqual(got, c.want) {
			t.Errorf("packageFiles(%s, %q) = %q, %v; want %q", c.pkg, c.dirs, got, err, c.want)
		}
	}
}

func TestPackagesOf(t *testing.T) {
	h := dpkgHost(t)
	db, err := readPackageDB(h)
	if err != nil {
		t.Fatal(err)
	}
	r := rootfs{}
	for _, p := range []string{"/bin/sh", "/lib/x86_64-linux-gnu/libc.so.6", "/usr/bin/redis-server"} {
		if err := r.addHostPath(h, p); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.add(entry{name: "/etc/passwd", mode: 0o644, data: []byte("root:x:0:0::/:/bin/sh\n")}); err != nil {
		t.Fatal(err)
	}

	// redis-server owns the symlink /usr/bin/redis-server; the file it points to belongs
	// to redis-tools, which is not installed here.
	if _, err := db.packagesOf(r); err == nil || !strings.Contains(err.Error(), "/usr/bin/redis-check-rdb belongs to no installed Debian package") {
		t.Errorf("packagesOf with a file no package owns: error %v", err)
	}
	delete(r, "/usr/bin/redis-check-rdb")
	got, err := db.packagesOf(r)
	if err != nil {
		t.Fatal(err)
	}
	// The links /bin and /lib lead to folders, which dpkg lists but nobody owns alone;
	// /etc/passwd was made, not copied.
	if want := "dash=0.5.12-2 libc6=2.36-9+deb12u14 redis-server=5:7.0.15-1~deb12u10"; packageList(got) != want {
		t.Errorf("packagesOf = %q, want %q", packageList(got), want)
	}
}
