package specs

import (
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
)

// Keys of the generated Secret for the managed MariaDB, and its database and user.
const (
	SecretKeyDatabasePassword     = "database-password"
	SecretKeyDatabaseRootPassword = "database-root-password"
	ManagedDatabaseName           = "sortographer"
	ManagedDatabaseUser           = "sortographer"
)

// MariaDBPort is the port of the managed MariaDB.
const MariaDBPort = 3306

// Paths in the MariaDB pod: the data volume (the official image's data directory, so a
// volume it initialised is used as it is) and the emptyDir holding the socket.
const (
	MariaDBDataDir = "/var/lib/mysql"
	MariaDBRunDir  = "/run/mysqld"
	MariaDBSocket  = MariaDBRunDir + "/mysqld.sock"
)

// mariadbProbeUser is the account the probes log in as: 'probe'@'localhost', no password
// and no privilege (USAGE). 'localhost' matches only the socket, which is in the pod's own
// emptyDir: with --skip-name-resolve a TCP client, even on 127.0.0.1, is never 'localhost'.
// So the probes need no secret, and the account can do nothing but connect.
const mariadbProbeUser = "probe"

// mariadbUID is the mysql user of the official image. The pod runs as it on every image
// (the Debian one's mysql user may have another uid, or none): nothing below looks the
// user up, the data volume is the pod's fsGroup's.
const mariadbUID = 999

// MariaDBSecretRefs are the Secret keys the MariaDB pod reads: both passwords, as
// environment variables of its init container only. The reconciler hashes their values
// into the pod template, so a rotated password rolls MariaDB.
func MariaDBSecretRefs(g *galleryv1alpha1.Gallery) []SecretRef {
	return []SecretRef{
		{"DATABASE_PASSWORD", g.DatabaseSecretName(), SecretKeyDatabasePassword},
		{"DATABASE_ROOT_PASSWORD", g.DatabaseSecretName(), SecretKeyDatabaseRootPassword},
	}
}

// MariaDBStatefulSet runs the managed MariaDB: one pod, data on a PVC. It relies on no
// image's entrypoint (no MARIADB_* variables, no healthcheck.sh, no gosu): an init
// container initialises the data directory when it is new and applies the database, the
// accounts and the passwords at every start; the server is mariadbd with explicit
// arguments; the probes are the mariadb and mariadb-admin clients. So the same pod runs on
// the official image, on one built from Debian's packages, or on any image with MariaDB
// 10.5 or later (docs/operator.md lists what it calls).
func MariaDBStatefulSet(g *galleryv1alpha1.Gallery, configHash string) *appsv1.StatefulSet {
	m := g.Spec.Database.Managed
	tmp, tmpMount := TmpVolume()
	mounts := []corev1.VolumeMount{
		tmpMount,
		{Name: "run", MountPath: MariaDBRunDir},
		{Name: "data", MountPath: MariaDBDataDir},
	}
	bootstrap := corev1.Container{
		Name:            "bootstrap",
		Image:           g.MariaDBImage(),
		ImagePullPolicy: corev1.PullIfNotPresent,
		Command:         []string{"/bin/sh", "-c", mariadbBootstrapScript()},
		Env:             envFromSecrets(MariaDBSecretRefs(g)),
		Resources:       m.Resources,
		VolumeMounts:    mounts,
		SecurityContext: ContainerSecurityContext(),
	}
	// Startup and readiness log in and run a query, so they pass only once the server
	// takes logins. InnoDB is ready by then: its crash recovery ran in the init
	// container's bootstrap, and mariadbd opens its socket only after its engines started.
	// Liveness is mariadb-admin ping, which succeeds whenever the server answers (even
	// "access denied"), so a server busy with a long query is not killed.
	query := []string{"mariadb", "--no-defaults", "--socket=" + MariaDBSocket, "--user=" + mariadbProbeUser, "--skip-ssl", "--execute=SELECT 1"}
	ping := []string{"mariadb-admin", "--no-defaults", "--socket=" + MariaDBSocket, "--user=" + mariadbProbeUser, "--skip-ssl", "ping"}
	probe := func(command []string, period, failures int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: command}},
			PeriodSeconds: period, TimeoutSeconds: 5, FailureThreshold: failures,
		}
	}
	container := corev1.Container{
		Name:            "mariadb",
		Image:           g.MariaDBImage(),
		ImagePullPolicy: corev1.PullIfNotPresent,
		Command:         []string{"mariadbd"},
		Args:            mariadbdArgs(),
		Ports:           []corev1.ContainerPort{{Name: "mysql", ContainerPort: MariaDBPort, Protocol: corev1.ProtocolTCP}},
		Resources:       m.Resources,
		StartupProbe:    probe(query, 5, 60),
		ReadinessProbe:  probe(query, 10, 3),
		LivenessProbe:   probe(ping, 20, 3),
		VolumeMounts:    mounts,
		SecurityContext: ContainerSecurityContext(),
	}
	pod := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: g.ChildLabels(galleryv1alpha1.ComponentDatabase), Annotations: map[string]string{AnnotationConfigHash: configHash}},
		Spec: corev1.PodSpec{
			AutomountServiceAccountToken: ptr.To(false),
			SecurityContext:              PodSecurityContext(mariadbUID),
			InitContainers:               []corev1.Container{bootstrap},
			Containers:                   []corev1.Container{container},
			Volumes:                      []corev1.Volume{tmp, {Name: "run", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
			// InnoDB flushes its buffer pool on SIGTERM; a kill mid-way means crash
			// recovery at the next start.
			TerminationGracePeriodSeconds: ptr.To[int64](60),
			EnableServiceLinks:            ptr.To(false),
		},
	}
	ApplyPlacement(g, galleryv1alpha1.ComponentDatabase, &pod.Spec)
	// The database is the gallery's memory (users, photos' records, labels): its volume
	// outlives the StatefulSet and the Gallery, so an accidental deletion loses nothing.
	// Recreating the Gallery reattaches data-<gallery>-mariadb-0, and <gallery>-database
	// (also kept) still holds the passwords its clients know; the init container applies
	// them to the reattached data as it does at every start. Deleting the data is the
	// admin's explicit act: kubectl delete pvc.
	claim := dataClaimTemplate(g, galleryv1alpha1.ComponentDatabase, m.StorageSize, m.StorageClassName)
	return singletonStatefulSet(g, g.DatabaseName(), galleryv1alpha1.ComponentDatabase, pod,
		[]corev1.PersistentVolumeClaim{claim}, appsv1.RetainPersistentVolumeClaimRetentionPolicyType)
}

// mariadbdArgs start the server from the command line alone: --no-defaults ignores the
// image's /etc/mysql, so every image behaves alike, and nothing is written outside the
// volumes (the error log goes to stderr, the pid file and socket to /run/mysqld, temporary
// files to /tmp). The character set is the one the official image's configuration set.
// There is no --user: the pod already runs as mysql, never root.
func mariadbdArgs() []string {
	return []string{
		"--no-defaults",
		"--datadir=" + MariaDBDataDir,
		"--tmpdir=/tmp",
		"--socket=" + MariaDBSocket,
		"--pid-file=" + MariaDBRunDir + "/mysqld.pid",
		"--port=" + strconv.Itoa(MariaDBPort),
		"--bind-address=*", // every IPv4 and IPv6 address the pod has
		"--skip-name-resolve",
		"--character-set-server=utf8mb4",
		"--collation-server=utf8mb4_unicode_ci",
	}
}

// mariadbBootstrapScript is the init container's program, for any POSIX sh (dash,
// bash, busybox): it needs the image's mariadb-install-db (only for a new volume, and
// with it sed, dirname, uname, cat and my_print_defaults, which that script calls),
// mariadbd, and coreutils' rm, mv, rmdir.
//
// Every start applies the database, the accounts and the passwords from the Secret, so a
// rotated password takes effect when the pod rolls (the reconciler rolls it). The SQL
// goes to "mariadbd --bootstrap" on its standard input: one process, no network, no
// socket to wait for, and it exits non-zero on the first failed statement, failing the
// init container. The passwords leave the environment first and are written only by
// printf, a shell builtin: they are in no file and on no command line.
func mariadbBootstrapScript() string {
	return "set -eu\n" +
		"datadir=" + MariaDBDataDir + "\n" +
		"database=" + ManagedDatabaseName + " user=" + ManagedDatabaseUser + " probe=" + mariadbProbeUser + "\n" +
		mariadbBootstrapBody
}

const mariadbBootstrapBody = `password=$DATABASE_PASSWORD root_password=$DATABASE_ROOT_PASSWORD
unset DATABASE_PASSWORD DATABASE_ROOT_PASSWORD

if [ ! -d "$datadir/mysql" ]; then
	# A new volume (a volume the official image initialised has mysql/ too). Install into
	# a staging folder and move the result in with the system schema last: a data folder
	# with mysql/ is complete, and an interrupted first start installs again. --force skips
	# resolving the host name (resolveip is not in every image); the root accounts named
	# after hosts are dropped below.
	staging=$datadir/.sortographer-install
	rm -rf "$staging"
	mariadb-install-db --no-defaults --datadir="$staging" --tmpdir=/tmp \
		--auth-root-authentication-method=normal --skip-test-db --force
	for f in "$staging"/*; do
		[ "$f" = "$staging/mysql" ] && continue
		rm -rf "$datadir/${f##*/}"
		mv "$f" "$datadir/"
	done
	mv "$staging/mysql" "$datadir/mysql"
	rmdir "$staging"
fi

# sql_string sets literal to $1 as an SQL string literal: backslash and quote escaped,
# line breaks written \n and \r, so that each statement stays on one line (the bootstrap
# reads statements line by line).
lf='
'
cr=$(printf '\r')
sql_string() {
	rest=$1 literal=
	while [ -n "$rest" ]; do
		tail=${rest#?}
		c=${rest%"$tail"}
		rest=$tail
		case $c in
		\\ | \') literal=$literal\\$c ;;
		"$lf") literal=$literal\\n ;;
		"$cr") literal=$literal\\r ;;
		*) literal=$literal$c ;;
		esac
	done
	literal="'$literal'"
}
plain_root_password=$root_password
sql_string "$password"
password=$literal
sql_string "$root_password"
root_password=$literal

# FLUSH PRIVILEGES first: the bootstrap starts without the grant tables, and account
# statements need them. root is root@localhost (the socket) and root@'%', as the official
# image makes it; any other root account (the passwordless ones mariadb-install-db names
# after 127.0.0.1, ::1 and the host) is dropped.
{
	printf '%s\n' \
		"FLUSH PRIVILEGES;" \
		"CREATE DATABASE IF NOT EXISTS $database CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;" \
		"CREATE USER IF NOT EXISTS '$user'@'%';" \
		"ALTER USER '$user'@'%' IDENTIFIED BY $password;" \
		"GRANT ALL PRIVILEGES ON $database.* TO '$user'@'%';" \
		"CREATE USER IF NOT EXISTS 'root'@'localhost';" \
		"ALTER USER 'root'@'localhost' IDENTIFIED BY $root_password;" \
		"GRANT ALL PRIVILEGES ON *.* TO 'root'@'localhost' WITH GRANT OPTION;" \
		"CREATE USER IF NOT EXISTS 'root'@'%';" \
		"ALTER USER 'root'@'%' IDENTIFIED BY $root_password;" \
		"GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION;" \
		"SET @others = (SELECT GROUP_CONCAT(QUOTE(User), '@', QUOTE(Host)) FROM mysql.global_priv WHERE User = 'root' AND Host NOT IN ('localhost', '%'));" \
		"EXECUTE IMMEDIATE IF(@others IS NULL, 'DO 0', CONCAT('DROP USER ', @others));" \
		"CREATE OR REPLACE USER '$probe'@'localhost';"
} | mariadbd --no-defaults --bootstrap --datadir="$datadir" --tmpdir=/tmp
echo "bootstrap: database $database, users $user, root and $probe applied"

# mariadb-upgrade whenever the server's version differs from the one that last upgraded
# the data (mariadb_upgrade_info from MariaDB 11, mysql_upgrade_info before; a new data
# folder has neither), as the official image's
# entrypoint does when asked to. It needs a running server: one on a private socket, with no
# network, shut down before the real one starts.
version=$(mariadbd --no-defaults --version | sed -n 's/.* Ver \([0-9][0-9.]*\).*/\1/p')
recorded=$(cat "$datadir/mariadb_upgrade_info" 2>/dev/null || cat "$datadir/mysql_upgrade_info" 2>/dev/null || true)
recorded=${recorded%%-*}
if [ "$recorded" != "$version" ]; then
	echo "bootstrap: the data was last upgraded by MariaDB ${recorded:-(unknown)}; running mariadb-upgrade for $version"
	sock=/run/mysqld/upgrade.sock
	mariadbd --no-defaults --datadir="$datadir" --tmpdir=/tmp --skip-networking --skip-name-resolve \
		--socket="$sock" --pid-file=/run/mysqld/upgrade.pid &
	server=$!
	tries=0
	until mariadb-admin --no-defaults --socket="$sock" -u "$probe" --skip-ssl ping >/dev/null 2>&1; do
		tries=$((tries + 1))
		if [ "$tries" -ge 300 ] || ! kill -0 "$server" 2>/dev/null; then
			echo "bootstrap: the server for mariadb-upgrade did not start" >&2
			kill "$server" 2>/dev/null || true
			exit 1
		fi
		sleep 1
	done
	export MYSQL_PWD="$plain_root_password"
	mariadb-upgrade --no-defaults --socket="$sock" -u root
	mariadb-admin --no-defaults --socket="$sock" -u root --skip-ssl shutdown
	unset MYSQL_PWD
	wait "$server" || true
	echo "bootstrap: upgraded to $version"
fi
`

// MariaDBService fronts the managed MariaDB.
func MariaDBService(g *galleryv1alpha1.Gallery) *corev1.Service {
	return clusterIPService(g, g.DatabaseName(), galleryv1alpha1.ComponentDatabase, "mysql", MariaDBPort)
}
