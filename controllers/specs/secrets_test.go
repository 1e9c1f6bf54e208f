package specs

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
	"github.com/sortographer/sortographer/internal/config"
)

func TestGeneratedSecretKeys(t *testing.T) {
	for _, tt := range []struct {
		name string
		g    *galleryv1alpha1.Gallery
		want []string
	}{
		{"defaults: JWT key and managed Redis password", gallery(), []string{SecretKeyJWT, SecretKeyRedisPassword}},
		{"admin's JWT key is not generated", gallery(withJWTSecretRef("gallery-jwt", "signing-key")), []string{SecretKeyRedisPassword}},
		{"external Redis brings its own password", gallery(withExternalRedis()), []string{SecretKeyJWT}},
		{"nothing left to generate", gallery(withExternalRedis(), withJWTSecretRef("gallery-jwt", "signing-key")), nil},
		{"database passwords live elsewhere", gallery(withExternalDatabase(galleryv1alpha1.DatabaseMySQL)), []string{SecretKeyJWT, SecretKeyRedisPassword}},
		{"embedded keeps the managed Redis password", gallery(withEmbeddedDatabase()), []string{SecretKeyJWT, SecretKeyRedisPassword}},
	} {
		if got := GeneratedSecretKeys(tt.g); !slices.Equal(got, tt.want) {
			t.Errorf("%s: GeneratedSecretKeys = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestDatabaseSecretKeys(t *testing.T) {
	for _, tt := range []struct {
		name string
		g    *galleryv1alpha1.Gallery
		want []string
	}{
		{"managed MariaDB: user and root passwords", gallery(), []string{SecretKeyDatabasePassword, SecretKeyDatabaseRootPassword}},
		{"external database: the admin's Secret", gallery(withExternalDatabase(galleryv1alpha1.DatabasePostgres)), nil},
		{"embedded: no password", gallery(withEmbeddedDatabase()), nil},
	} {
		if got := DatabaseSecretKeys(tt.g); !slices.Equal(got, tt.want) {
			t.Errorf("%s: DatabaseSecretKeys = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestGeneratedAndDatabaseSecret(t *testing.T) {
	g := gallery()
	values := map[string][]byte{SecretKeyJWT: []byte("k"), SecretKeyRedisPassword: []byte("p")}
	s := GeneratedSecret(g, values)
	assertApplyable(t, s, "v1", "Secret", "demo-generated", galleryv1alpha1.ComponentServer)
	if s.Type != corev1.SecretTypeOpaque || len(s.Data) != 2 || string(s.Data[SecretKeyJWT]) != "k" || len(s.StringData) != 0 {
		t.Errorf("generated Secret = %s %v, want Opaque with the values", s.Type, s.Data)
	}
	d := DatabaseSecret(g, map[string][]byte{SecretKeyDatabasePassword: []byte("x"), SecretKeyDatabaseRootPassword: []byte("y")})
	assertApplyable(t, d, "v1", "Secret", "demo-database", galleryv1alpha1.ComponentDatabase)
	if d.Type != corev1.SecretTypeOpaque || string(d.Data[SecretKeyDatabaseRootPassword]) != "y" {
		t.Errorf("database Secret = %s %v", d.Type, d.Data)
	}
	if len(d.OwnerReferences) != 0 || len(s.OwnerReferences) != 0 {
		t.Error("builders set owner references; the reconciler does, and never on the database Secret")
	}
}

func TestSecretEnv(t *testing.T) {
	const (
		jwt   = config.EnvJWTSecret
		redis = config.EnvRedisPassword
		user  = config.EnvDatabaseUser
		pass  = config.EnvDatabasePassword
	)
	generatedJWT := SecretRef{jwt, "demo-generated", SecretKeyJWT}
	generatedRedis := SecretRef{redis, "demo-generated", SecretKeyRedisPassword}
	managedDB := SecretRef{pass, "demo-database", SecretKeyDatabasePassword}
	tests := []struct {
		name string
		g    *galleryv1alpha1.Gallery
		want []SecretRef
	}{{
		name: "defaults: everything generated",
		g:    gallery(),
		want: []SecretRef{generatedJWT, generatedRedis, managedDB},
	}, {
		name: "admin-supplied JWT key",
		g:    gallery(withJWTSecretRef("gallery-jwt", "signing-key")),
		want: []SecretRef{{jwt, "gallery-jwt", "signing-key"}, generatedRedis, managedDB},
	}, {
		name: "external Redis password from the admin's Secret",
		g:    gallery(withExternalRedis()),
		want: []SecretRef{generatedJWT, {redis, "redis-auth", "token"}, managedDB},
	}, {
		name: "external Redis without a password",
		g: gallery(withExternalRedis(), func(g *galleryv1alpha1.Gallery) {
			g.Spec.Cache.External.PasswordSecretRef = nil
		}),
		want: []SecretRef{generatedJWT, managedDB},
	}, {
		name: "external database: user and password from their keys",
		g:    gallery(withExternalDatabase(galleryv1alpha1.DatabaseMySQL)),
		want: []SecretRef{generatedJWT, generatedRedis, {user, "gallery-db", "username"}, {pass, "gallery-db", "password"}},
	}, {
		name: "external database with custom keys",
		g: gallery(withExternalDatabase(galleryv1alpha1.DatabasePostgres), func(g *galleryv1alpha1.Gallery) {
			c := &g.Spec.Database.External.CredentialsSecret
			c.Name, c.UsernameKey, c.PasswordKey = "rds-master", "user", "pw"
		}),
		want: []SecretRef{generatedJWT, generatedRedis, {user, "rds-master", "user"}, {pass, "rds-master", "pw"}},
	}, {
		name: "embedded: no database password",
		g:    gallery(withEmbeddedDatabase()),
		want: []SecretRef{generatedJWT, generatedRedis},
	}, {
		name: "S3 credentials Secret",
		g:    gallery(withS3(), withS3Credentials("s3-creds")),
		want: []SecretRef{generatedJWT, generatedRedis, managedDB,
			{"AWS_ACCESS_KEY_ID", "s3-creds", "accessKeyId"}, {"AWS_SECRET_ACCESS_KEY", "s3-creds", "secretAccessKey"}},
	}, {
		name: "S3 on the pod's credential chain",
		g:    gallery(withS3()),
		want: []SecretRef{generatedJWT, generatedRedis, managedDB},
	}, {
		name: "single sign-on: the client secret from the admin's Secret",
		g:    gallery(withOIDC("https://login.example.edu/realms/uni")),
		want: []SecretRef{generatedJWT, {config.EnvOIDCClientSecret, "sso-client", "secret"}, generatedRedis, managedDB},
	}, {
		name: "everything the admin's own",
		g: gallery(withJWTSecretRef("gallery-jwt", "signing-key"), withExternalRedis(),
			withExternalDatabase(galleryv1alpha1.DatabaseMySQL), withS3(), withS3Credentials("s3-creds")),
		want: []SecretRef{{jwt, "gallery-jwt", "signing-key"}, {redis, "redis-auth", "token"},
			{user, "gallery-db", "username"}, {pass, "gallery-db", "password"},
			{"AWS_ACCESS_KEY_ID", "s3-creds", "accessKeyId"}, {"AWS_SECRET_ACCESS_KEY", "s3-creds", "secretAccessKey"}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := SecretEnv(tt.g)
			if !slices.Equal(got, tt.want) {
				t.Errorf("SecretEnv =\n  %+v\nwant\n  %+v", got, tt.want)
			}
			// The pods read exactly these, from valueFrom, never as literals.
			c := ServerDeployment(tt.g, "h").Spec.Template.Spec.Containers[0]
			for _, r := range tt.want {
				assertSecretEnv(t, c, r.Env, r.Secret, r.Key)
			}
			if w := WorkersDeployment(tt.g, "h", nil); w != nil {
				for _, r := range tt.want {
					assertSecretEnv(t, w.Spec.Template.Spec.Containers[0], r.Env, r.Secret, r.Key)
				}
			}
		})
	}
}

func TestSecretFiles(t *testing.T) {
	dbCA := MountedSecret{Volume: "database-ca", Secret: "rds-ca", Key: "global-bundle.pem", Dir: DatabaseCADir}
	redisCA := MountedSecret{Volume: "redis-ca", Secret: "cache-ca", Key: "ca.crt", Dir: RedisCADir}
	for _, tt := range []struct {
		name string
		g    *galleryv1alpha1.Gallery
		want []MountedSecret
	}{
		{"defaults: none", gallery(), nil},
		{"external services on the system roots", gallery(withExternalDatabase(galleryv1alpha1.DatabaseMySQL), withExternalRedis()), nil},
		{"database CA", gallery(withExternalDatabase(galleryv1alpha1.DatabaseMySQL), withDatabaseCA("rds-ca", "global-bundle.pem")),
			[]MountedSecret{dbCA}},
		{"Redis CA", gallery(withExternalRedis(), withRedisCA("cache-ca", "ca.crt")), []MountedSecret{redisCA}},
		{"Redis CA with TLS off is not mounted", gallery(withExternalRedis(), withRedisCA("cache-ca", "ca.crt"),
			func(g *galleryv1alpha1.Gallery) { g.Spec.Cache.External.TLS.Enabled = false }), nil},
		{"both, database first", gallery(withExternalRedis(), withRedisCA("cache-ca", "ca.crt"),
			withExternalDatabase(galleryv1alpha1.DatabasePostgres), withDatabaseCA("rds-ca", "global-bundle.pem")),
			[]MountedSecret{dbCA, redisCA}},
	} {
		if got := SecretFiles(tt.g); !slices.Equal(got, tt.want) {
			t.Errorf("%s: SecretFiles = %+v, want %+v", tt.name, got, tt.want)
		}
	}
}
