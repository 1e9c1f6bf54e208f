package specs

import (
	corev1 "k8s.io/api/core/v1"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
	"github.com/sortographer/sortographer/internal/config"
)

// GeneratedSecretKeys lists the keys the operator generates into the Secret <g>-generated
// (owned by the Gallery): only those the admin did not supply. The reconciler fills them
// with random values once and never rewrites them.
func GeneratedSecretKeys(g *galleryv1alpha1.Gallery) []string {
	var keys []string
	if g.Spec.Auth.JWTSecretRef == nil {
		keys = append(keys, SecretKeyJWT)
	}
	if g.Spec.Cache.Managed != nil {
		keys = append(keys, SecretKeyRedisPassword)
	}
	return keys
}

// DatabaseSecretKeys lists the keys of the Secret <g>-database: the managed MariaDB's
// passwords. MariaDB takes them only when it first initialises its volume, so they must
// live as long as the volume does.
func DatabaseSecretKeys(g *galleryv1alpha1.Gallery) []string {
	if g.Spec.Database.Managed == nil {
		return nil
	}
	return []string{SecretKeyDatabasePassword, SecretKeyDatabaseRootPassword}
}

// GeneratedSecret holds the generated values of GeneratedSecretKeys.
func GeneratedSecret(g *galleryv1alpha1.Gallery, values map[string][]byte) *corev1.Secret {
	return secret(g, g.GeneratedSecretName(), galleryv1alpha1.ComponentServer, values)
}

// DatabaseSecret holds the generated values of DatabaseSecretKeys.
func DatabaseSecret(g *galleryv1alpha1.Gallery, values map[string][]byte) *corev1.Secret {
	return secret(g, g.DatabaseSecretName(), galleryv1alpha1.ComponentDatabase, values)
}

func secret(g *galleryv1alpha1.Gallery, name, component string, values map[string][]byte) *corev1.Secret {
	return &corev1.Secret{
		TypeMeta:   typeMeta("v1", "Secret"),
		ObjectMeta: ObjectMeta(g, name, component),
		Type:       corev1.SecretTypeOpaque,
		Data:       values,
	}
}

// SecretRef is one Secret key a Gallery's pods consume, as an environment variable.
type SecretRef struct {
	Env    string
	Secret string
	Key    string
}

// SecretEnv lists the secrets the gallery pods read, and from where: the admin's own
// Secrets where the spec names them, the generated Secret otherwise. The reconciler
// checks that each exists and hashes their values into the pod template.
func SecretEnv(g *galleryv1alpha1.Gallery) []SecretRef {
	gen := g.GeneratedSecretName()
	var refs []SecretRef
	if r := g.Spec.Auth.JWTSecretRef; r != nil {
		refs = append(refs, SecretRef{config.EnvJWTSecret, r.Name, r.Key})
	} else {
		refs = append(refs, SecretRef{config.EnvJWTSecret, gen, SecretKeyJWT})
	}
	if o := g.Spec.Auth.OIDC; o != nil {
		refs = append(refs, SecretRef{config.EnvOIDCClientSecret, o.ClientSecretRef.Name, o.ClientSecretRef.Key})
	}
	switch c := g.Spec.Cache; {
	case c.Managed != nil:
		refs = append(refs, SecretRef{config.EnvRedisPassword, gen, SecretKeyRedisPassword})
	case c.External != nil && c.External.PasswordSecretRef != nil:
		r := c.External.PasswordSecretRef
		refs = append(refs, SecretRef{config.EnvRedisPassword, r.Name, r.Key})
	}
	switch db := g.Spec.Database; {
	case db.Managed != nil:
		refs = append(refs, SecretRef{config.EnvDatabasePassword, g.DatabaseSecretName(), SecretKeyDatabasePassword})
	case db.External != nil:
		c := db.External.CredentialsSecret
		refs = append(refs,
			SecretRef{config.EnvDatabaseUser, c.Name, c.UsernameKey},
			SecretRef{config.EnvDatabasePassword, c.Name, c.PasswordKey})
	}
	if s3 := g.Spec.Storage.S3; s3 != nil && s3.CredentialsSecret != "" {
		refs = append(refs,
			SecretRef{"AWS_ACCESS_KEY_ID", s3.CredentialsSecret, "accessKeyId"},
			SecretRef{"AWS_SECRET_ACCESS_KEY", s3.CredentialsSecret, "secretAccessKey"})
	}
	return refs
}

// SecretFiles lists Secrets mounted as files (CA bundles).
func SecretFiles(g *galleryv1alpha1.Gallery) []MountedSecret {
	var m []MountedSecret
	if e := g.Spec.Database.External; e != nil && e.CASecretRef != nil {
		m = append(m, MountedSecret{Volume: "database-ca", Secret: e.CASecretRef.Name, Key: e.CASecretRef.Key, Dir: DatabaseCADir})
	}
	if e := g.Spec.Cache.External; e != nil && e.TLS != nil && e.TLS.Enabled && e.TLS.CASecretRef != nil {
		m = append(m, MountedSecret{Volume: "redis-ca", Secret: e.TLS.CASecretRef.Name, Key: e.TLS.CASecretRef.Key, Dir: RedisCADir})
	}
	return m
}

// MountedSecret is one Secret key mounted as a file in Dir.
type MountedSecret struct {
	Volume, Secret, Key, Dir string
}

func envFromSecrets(refs []SecretRef) []corev1.EnvVar {
	env := make([]corev1.EnvVar, 0, len(refs))
	for _, r := range refs {
		env = append(env, corev1.EnvVar{Name: r.Env, ValueFrom: &corev1.EnvVarSource{
			SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: r.Secret}, Key: r.Key},
		}})
	}
	return env
}
