package main

import (
	"bytes"
	"debug/elf"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
)

// The references the images are tagged with: the ones a `spec: {}` Gallery's pods use
// (RedisImage and MariaDBImage in api/v1alpha1 with the CRD's default versions; a test
// checks), and the sandbox image containerd is told to pin.
const (
	pauseRef   = "registry.k8s.io/pause:3.10"
	redisRef   = galleryv1alpha1.DefaultRedisRepository + ":7.4-alpine"
	mariadbRef = galleryv1alpha1.DefaultMariaDBRepository + ":11.4"
)

// defaultPath is the images' PATH, Debian's for root.
const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// mergedUsr are bookworm's top-level links into /usr (/bin -> usr/bin); each Debian-based
// image has them, so a path such as /bin/sh or /lib64/ld-linux-x86-64.so.2 works in it.
var mergedUsr = []string{"/bin", "/lib", "/lib64", "/sbin"}

// account is a user and its group, of the same name and ID.
type account struct {
	name string
	id   int
	home string
}

// packageDirs picks a package's files under some folders (as the package lists them).
type packageDirs struct {
	pkg  string
	dirs []string
}

// imageSpec says what one image holds and how it runs.
type imageSpec struct {
	file, ref, description string
	// hostPaths are copied from the root the image is built from (this machine's, or a
	// staging root of another suite's packages) with what they link to, then every
	// copied ELF file's shared libraries; all must belong to that root's Debian packages.
	hostPaths []string
	packages  []packageDirs // more host paths, from dpkg's file lists
	// versionPackage's upstream version is the image's org.opencontainers.image.version.
	versionPackage string
	account        *account // with root and nobody in /etc/passwd and /etc/group
	made           []entry  // folders and files made for the image, not copied
	config         v1.Config
}

// bin lists commands under folder.
func bin(folder string, names ...string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = folder + "/" + n
	}
	return out
}

// pauseImage is the pod sandbox image, tagged ref: the static cmd/pause binary and
// nothing else, run as 65535 like registry.k8s.io/pause.
func pauseImage(binary []byte, ref string) imageSpec {
	return imageSpec{
		file: "pause.tar", ref: ref,
		description: "Pod sandbox: cmd/pause, standing in for registry.k8s.io/pause on a node without a registry",
		made:        []entry{{name: "/pause", mode: 0o755, data: binary}},
		config:      v1.Config{Entrypoint: []string{"/pause"}, User: "65535:65535", Env: []string{defaultPath}},
	}
}

// redisImage is Redis from Debian's redis-server and redis-tools, laid out like the
// official image's: data in /data, user redis 999, no entrypoint script (the operator
// runs redis-server with its arguments).
func redisImage() imageSpec {
	return imageSpec{
		file: "redis.tar", ref: redisRef,
		description:    "Redis from Debian's redis-server and redis-tools packages",
		hostPaths:      append(append([]string{}, mergedUsr...), bin("/usr/bin", "redis-server", "redis-cli")...),
		versionPackage: "redis-server",
		account:        &account{name: "redis", id: 999, home: "/data"},
		made: []entry{
			{name: "/data", mode: 0o755, dir: true, uid: 999, gid: 999},
			{name: "/tmp", mode: 0o777 | fs.ModeSticky, dir: true},
		},
		config: v1.Config{
			Cmd: []string{"redis-server"}, User: "999:999", WorkingDir: "/data", Env: []string{defaultPath},
			ExposedPorts: map[string]struct{}{"6379/tcp": {}},
		},
	}
}

// mariadbMyCnf is the MariaDB image's only option file. It includes no folder, so no
// file the image did not ship (a mount, say) changes the server's options behind the
// operator's command line; the socket is the compiled-in default, written out for the
// clients' sake.
const mariadbMyCnf = `# MariaDB image built from Debian's packages by Sortographer's hack/baseimages.
# Options come from the command line; this file includes nothing else.
[client-server]
socket = /run/mysqld/mysqld.sock
`

// mariadbImage is MariaDB from this machine's (bookworm's) mariadb-server packages: the
// server, the commands that initialise, check and administer it, the shell and tools
// mariadb-install-db (a shell script) runs, all at Debian's paths; no entrypoint script
// (the operator runs mariadb-install-db, mariadbd --bootstrap and mariadbd itself).
func mariadbImage() imageSpec {
	return mariadbSpec("mariadb.tar", mariadbRef, "MariaDB from Debian's mariadb-server packages")
}

// The newer MariaDB, to upgrade a managed database to: a later suite's packages,
// unpacked into a staging root (bookworm has only 10.11). mariadb-client-compat has
// mysqlcheck, which trixie moved out of mariadb-client.
const mariadbNextSuite = "trixie"

var mariadbNextPackages = []string{
	"mariadb-server-core", "mariadb-client-core", "mariadb-client", "mariadb-client-compat",
	"dash", "coreutils", "sed", "grep", "mawk", "hostname",
}

// mariadbNextImage is mariadbImage's layout from mariadbNextSuite's packages in db (the
// staging root's), tagged with the major.minor of its mariadb-server-core (11.8).
func mariadbNextImage(db *packageDB) (imageSpec, error) {
	p, ok := db.packages["mariadb-server-core"]
	if !ok {
		return imageSpec{}, fmt.Errorf("%s: no mariadb-server-core unpacked", mariadbNextSuite)
	}
	v := strings.Split(upstreamVersion(p.version), ".")
	if len(v) < 2 {
		return imageSpec{}, fmt.Errorf("mariadb-server-core version %s has no major.minor", p.version)
	}
	ref := galleryv1alpha1.DefaultMariaDBRepository + ":" + v[0] + "." + v[1]
	return mariadbSpec("mariadb-next.tar", ref,
		"MariaDB from Debian "+mariadbNextSuite+"'s mariadb-server packages, for upgrade tests"), nil
}

// mariadbSpec is the MariaDB image's content and configuration, which the same names
// give on bookworm and trixie: the server, the commands that initialise, check and
// administer it, the shell and tools mariadb-install-db (a shell script) runs, all at
// Debian's paths; no entrypoint script (the operator runs mariadb-install-db,
// mariadbd --bootstrap and mariadbd itself).
func mariadbSpec(file, ref, description string) imageSpec {
	paths := append([]string{}, mergedUsr...)
	paths = append(paths, bin("/usr/sbin", "mariadbd", "mysqld")...)
	paths = append(paths, bin("/usr/bin",
		"mariadb-install-db", "mysql_install_db", "my_print_defaults", "resolveip",
		"mariadb", "mysql", "mariadb-admin", "mysqladmin",
		"mariadb-upgrade", "mysql_upgrade", "mariadb-check", "mysqlcheck", // mariadb-upgrade runs mariadb-check and mariadb
		"mariadb-dump", "mysqldump",
		"mawk")...) // mariadb-install-db --skip-name-resolve runs awk
	commands := []string{"/bin", "/sbin", "/usr/bin", "/usr/sbin", "/usr/libexec"}
	return imageSpec{
		file: file, ref: ref, description: description,
		hostPaths: paths,
		packages: []packageDirs{
			// SQL scripts for mariadb-install-db, character sets, error messages: in
			// /usr/share/mysql up to 10.11, /usr/share/mariadb from 11.
			{"mariadb-server-core", []string{"/usr/share/mysql", "/usr/share/mariadb"}},
			// The shell and the commands mariadb-install-db and an init script use.
			{"dash", commands}, {"coreutils", commands}, {"sed", commands}, {"grep", commands}, {"hostname", commands},
		},
		versionPackage: "mariadb-server-core",
		account:        &account{name: "mysql", id: 999, home: "/var/lib/mysql"},
		made: []entry{
			// Debian's awk is an alternatives link, to gawk on a machine that has it; mawk
			// is always installed (Priority: required) and enough.
			{name: "/usr/bin/awk", mode: 0o777, link: "mawk"},
			{name: "/etc/mysql/my.cnf", mode: 0o644, data: []byte(mariadbMyCnf)},
			{name: "/var/lib/mysql", mode: 0o755, dir: true, uid: 999, gid: 999},
			{name: "/run/mysqld", mode: 0o755, dir: true, uid: 999, gid: 999},
			{name: "/tmp", mode: 0o777 | fs.ModeSticky, dir: true},
		},
		config: v1.Config{
			Cmd: []string{"mariadbd"}, User: "999:999", Env: []string{defaultPath},
			ExposedPorts: map[string]struct{}{"3306/tcp": {}},
		},
	}
}

// accountFiles are /etc/passwd, /etc/group and /etc/nsswitch.conf for root, nobody and
// a (when not nil): glibc reads users and groups from files (built into libc since 2.34,
// so no NSS module is needed).
func accountFiles(a *account) []entry {
	passwd := "root:x:0:0:root:/root:/usr/sbin/nologin\n"
	group := "root:x:0:\n"
	if a != nil {
		passwd += fmt.Sprintf("%s:x:%d:%d:%s:%s:/usr/sbin/nologin\n", a.name, a.id, a.id, a.name, a.home)
		group += fmt.Sprintf("%s:x:%d:\n", a.name, a.id)
	}
	passwd += "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
	group += "nogroup:x:65534:\n"
	return []entry{
		{name: "/etc/passwd", mode: 0o644, data: []byte(passwd)},
		{name: "/etc/group", mode: 0o644, data: []byte(group)},
		{name: "/etc/nsswitch.conf", mode: 0o644, data: []byte("passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n")},
	}
}

// assembled is an image's root and the Debian packages its files come from.
type assembled struct {
	root     rootfs
	packages []installedPackage
}

// assemble collects an image's root from this machine (h, its package database db and
// library folders libDirs) and the image's own entries.
func assemble(s imageSpec, h hostTree, db *packageDB, libDirs []string) (assembled, error) {
	r := rootfs{}
	paths := append([]string{}, s.hostPaths...)
	for _, p := range s.packages {
		files, err := db.packageFiles(h, p.pkg, p.dirs)
		if err != nil {
			return assembled{}, err
		}
		if len(files) == 0 {
			return assembled{}, fmt.Errorf("package %s has no files under %s", p.pkg, strings.Join(p.dirs, ", "))
		}
		paths = append(paths, files...)
	}
	for _, p := range paths {
		if err := r.addHostPath(h, p); err != nil {
			return assembled{}, fmt.Errorf("copy %s: %w", p, err)
		}
	}
	if err := r.addSharedLibraries(h, libDirs); err != nil {
		return assembled{}, err
	}
	pkgs, err := packagesWithCopyrights(r, h, db)
	if err != nil {
		return assembled{}, err
	}
	made := s.made
	if s.account != nil || len(r) > 0 {
		made = append(accountFiles(s.account), made...)
	}
	for _, e := range made {
		if e.regular() && isDynamicELF(e.data) {
			return assembled{}, fmt.Errorf("%s is dynamically linked; build it static (CGO_ENABLED=0)", e.name)
		}
		if err := r.add(e); err != nil {
			return assembled{}, err
		}
	}
	return assembled{root: r, packages: pkgs}, nil
}

// packagesWithCopyrights adds the copyright file of each package the root holds files
// of (Debian's /usr/share/doc/PACKAGE/copyright: its licences, which go with its
// binaries), and returns the packages.
func packagesWithCopyrights(r rootfs, h hostTree, db *packageDB) ([]installedPackage, error) {
	if len(r) == 0 {
		return nil, nil
	}
	pkgs, err := db.packagesOf(r)
	if err != nil {
		return nil, err
	}
	for _, p := range pkgs {
		copyright := "/usr/share/doc/" + p.name + "/copyright"
		if _, _, err := h.resolve(copyright, true); err != nil {
			continue // a package without one (rare): nothing to carry
		}
		if err := r.addHostPath(h, copyright); err != nil {
			return nil, err
		}
	}
	// A doc folder can be a link to another package's (libgcc-s1 -> gcc-12-base), which
	// then counts too.
	return db.packagesOf(r)
}

// isDynamicELF reports whether b is an ELF executable that needs a loader (PT_INTERP).
func isDynamicELF(b []byte) bool {
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		return false
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return true
		}
	}
	return false
}

// labels describe an image: where it comes from and, for one made from Debian's
// packages, the upstream version inside (org.opencontainers.image.version: 7.0.15 under
// a 7.4-alpine tag, say) and every package version in io.sortographer.debian-packages.
func labels(s imageSpec, pkgs []installedPackage) (map[string]string, error) {
	l := map[string]string{
		"org.opencontainers.image.ref.name":    s.ref,
		"org.opencontainers.image.description": s.description,
		"org.opencontainers.image.source":      "https://github.com/sortographer/sortographer",
	}
	if len(pkgs) > 0 {
		l["io.sortographer.debian-packages"] = packageList(pkgs)
	}
	if s.versionPackage != "" {
		i := sort.Search(len(pkgs), func(i int) bool { return pkgs[i].name >= s.versionPackage })
		if i == len(pkgs) || pkgs[i].name != s.versionPackage {
			return nil, fmt.Errorf("%s: no file of package %s in the image", s.file, s.versionPackage)
		}
		l["org.opencontainers.image.version"] = upstreamVersion(pkgs[i].version)
	}
	return l, nil
}

// build makes an image's OCI image and the annotations its manifest carries besides
// org.opencontainers.image.ref.name, which ociarchive.Write sets to the reference.
func build(s imageSpec, h hostTree, db *packageDB, arch string, epoch time.Time) (v1.Image, map[string]string, error) {
	libDirs, ok := systemLibraryDirs[arch]
	if !ok {
		return nil, nil, fmt.Errorf("no library folders known for architecture %s", arch)
	}
	a, err := assemble(s, h, db, libDirs)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", s.file, err)
	}
	l, err := labels(s, a.packages)
	if err != nil {
		return nil, nil, err
	}
	cfg := s.config
	cfg.Labels = l
	comment := s.description
	if len(a.packages) > 0 {
		comment = fmt.Sprintf("%s (%d Debian packages)", s.description, len(a.packages))
	}
	img, err := ociImage(a.root, cfg, arch, comment, epoch)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", s.file, err)
	}
	// ctr names an imported image after io.containerd.image.name.
	annotations := map[string]string{"io.containerd.image.name": s.ref}
	if v := l["org.opencontainers.image.version"]; v != "" {
		annotations["org.opencontainers.image.version"] = v
	}
	return img, annotations, nil
}
