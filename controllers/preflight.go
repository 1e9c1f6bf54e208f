package controllers

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
	"github.com/sortographer/sortographer/internal/config"
	"github.com/sortographer/sortographer/internal/preflight"
)

// Preflighter proves, from the operator, that a Gallery's external servers let the
// gallery in: an RDS endpoint that refuses the password or a missing bucket shows as a
// condition with its reason instead of as crash-looping pods. Each check's error
// carries its reason (preflight.ReasonOf).
type Preflighter interface {
	// Redis sends AUTH (with TLS when set) and PING, as the gallery's client does.
	Redis(ctx context.Context, c config.Redis, ca []byte) error
	// Database logs in to the writer and each reader with the configured TLS mode and
	// runs SELECT 1.
	Database(ctx context.Context, db config.Database, ca []byte) error
	// Bucket sends HeadBucket for the photo bucket, then reads its versioning: Enabled,
	// Suspended, "" (never turned on) or, when the operator may not read it, "unknown
	// (<reason>)". creds, when not nil, are static credentials (S3-compatible stores);
	// otherwise the operator's credential chain is used (IRSA / Pod Identity on the
	// operator's ServiceAccount).
	Bucket(ctx context.Context, s config.Storage, creds *aws.Credentials) (versioning string, err error)
}

// NetPreflighter is the real Preflighter (package preflight).
type NetPreflighter struct {
	// Timeout bounds each check. Default 5s.
	Timeout time.Duration
}

func (p NetPreflighter) bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	if p.Timeout <= 0 {
		return context.WithTimeout(ctx, 5*time.Second)
	}
	return context.WithTimeout(ctx, p.Timeout)
}

// Redis runs preflight.Redis.
func (p NetPreflighter) Redis(ctx context.Context, c config.Redis, ca []byte) error {
	ctx, cancel := p.bounded(ctx)
	defer cancel()
	return preflight.Redis(ctx, c, ca)
}

// Database runs preflight.Database.
func (p NetPreflighter) Database(ctx context.Context, db config.Database, ca []byte) error {
	ctx, cancel := p.bounded(ctx)
	defer cancel()
	return preflight.Database(ctx, db, ca)
}

// Bucket runs preflight.Bucket.
func (p NetPreflighter) Bucket(ctx context.Context, s config.Storage, creds *aws.Credentials) (string, error) {
	ctx, cancel := p.bounded(ctx)
	defer cancel()
	return preflight.Bucket(ctx, s, creds)
}

// preflightResult is what the checks found; nil fields were not checked.
type preflightResult struct {
	cache, database, storage error
	// versioning is the photo bucket's versioning status (see Preflighter.Bucket).
	versioning string
	checked    bool
}

// failed reports whether any check failed.
func (p preflightResult) failed() bool {
	return p.cache != nil || p.database != nil || p.storage != nil
}

// preflightRetry is how soon a failed check is tried again.
const preflightRetry = 30 * time.Second

func (r *GalleryReconciler) reconcilePreflight(ctx context.Context, st *reconcileState) error {
	if r.Preflight == nil {
		return nil
	}
	in := r.preflightInputs(ctx, st)
	key := in.key(st.gallery.Generation)
	if m, ok := r.preflightMemos.Load(client.ObjectKeyFromObject(st.gallery)); ok {
		if memo := m.(preflightMemo); memo.key == key && st.now.Sub(memo.at) < preflightRetry {
			st.preflight = memo.res
			if memo.res.failed() {
				st.requeueSoon(preflightRetry - st.now.Sub(memo.at))
			}
			return nil
		}
	}
	res := preflightResult{checked: true, cache: in.redisErr, database: in.databaseErr, storage: in.bucketErr}
	if in.redis != nil && in.redisErr == nil {
		res.cache = r.Preflight.Redis(ctx, *in.redis, in.redisCA)
	}
	if in.database != nil && in.databaseErr == nil {
		res.database = r.Preflight.Database(ctx, *in.database, in.databaseCA)
	}
	if in.bucket != nil && in.bucketErr == nil {
		res.versioning, res.storage = r.Preflight.Bucket(ctx, *in.bucket, in.bucketCreds)
	}
	st.preflight = res
	r.preflightMemos.Store(client.ObjectKeyFromObject(st.gallery), preflightMemo{key: key, at: st.now, res: res})
	if res.failed() {
		st.requeueSoon(preflightRetry)
	}
	return nil
}

// preflightMemo is a Gallery's last preflight: its result stands, for preflightRetry,
// while the Gallery's generation and every value the checks used stay the same. Passes
// come with every status change of a child; without it each would log in to the
// Gallery's Redis and database again (and ask STS for credentials under IRSA).
type preflightMemo struct {
	key [sha256.Size]byte
	at  time.Time
	res preflightResult
}

// preflightInputs are what the checks of one Gallery use: the external servers as the
// gallery's pods see them, with the values read from their Secrets (or why they could
// not be read). nil: not external.
type preflightInputs struct {
	redis       *config.Redis
	redisCA     []byte
	redisErr    error
	database    *config.Database
	databaseCA  []byte
	databaseErr error
	bucket      *config.Storage
	bucketCreds *aws.Credentials
	bucketErr   error
}

func (r *GalleryReconciler) preflightInputs(ctx context.Context, st *reconcileState) preflightInputs {
	g := st.gallery
	var in preflightInputs
	if g.Spec.Cache.External != nil {
		c, ca, err := r.externalRedis(ctx, st)
		in.redis, in.redisCA, in.redisErr = &c, ca, err
	}
	if g.Spec.Database.External != nil {
		db, ca, err := r.externalDatabase(ctx, st)
		in.database, in.databaseCA, in.databaseErr = &db, ca, err
	}
	if s := g.Spec.Storage.S3; s != nil {
		creds, err := r.s3Credentials(ctx, st)
		in.bucket = &config.Storage{
			Backend: config.StorageS3, S3Bucket: s.Bucket, S3Region: s.Region, S3Prefix: s.Prefix,
			S3Endpoint: s.Endpoint, S3PathStyle: s.ForcePathStyle,
		}
		in.bucketCreds, in.bucketErr = creds, err
	}
	return in
}

// key digests the inputs and the Gallery's generation: a Secret's new value or a spec
// change makes the next pass check again. Only the digest is kept.
func (in preflightInputs) key(generation int64) [sha256.Size]byte {
	errText := func(err error) string {
		if err == nil {
			return ""
		}
		return err.Error()
	}
	b, _ := json.Marshal([]any{generation, in.redis, in.redisCA, errText(in.redisErr), in.database, in.databaseCA,
		errText(in.databaseErr), in.bucket, in.bucketCreds, errText(in.bucketErr)})
	return sha256.Sum256(b)
}

// secretKey reads one key of a Secret the spec names; field says where, for the
// message when it is missing.
func (r *GalleryReconciler) secretKey(ctx context.Context, st *reconcileState, name, key, field string) ([]byte, error) {
	s, err := r.secret(ctx, st, name)
	if apierrors.IsNotFound(err) {
		return nil, &preflight.Error{Reason: galleryv1alpha1.ReasonMissingReference, Err: fmt.Errorf("read Secret %s (%s): %w", name, field, err)}
	}
	if err != nil {
		return nil, &preflight.Error{Reason: galleryv1alpha1.ReasonCheckFailed, Err: fmt.Errorf("read Secret %s (%s): %w", name, field, err)}
	}
	v, ok := s.Data[key]
	if !ok {
		return nil, &preflight.Error{Reason: galleryv1alpha1.ReasonMissingReference, Err: fmt.Errorf("key %s is missing from Secret %s (%s)", key, name, field)}
	}
	return v, nil
}

// caBundle reads a CA bundle the spec names and checks that it holds a certificate.
func (r *GalleryReconciler) caBundle(ctx context.Context, st *reconcileState, ref *galleryv1alpha1.SecretKeyRef, field string) ([]byte, error) {
	pem, err := r.secretKey(ctx, st, ref.Name, ref.Key, field)
	if err != nil {
		return nil, err
	}
	if !x509.NewCertPool().AppendCertsFromPEM(pem) {
		return nil, &preflight.Error{Reason: galleryv1alpha1.ReasonCheckFailed, Err: fmt.Errorf("key %s of Secret %s (%s) holds no PEM certificate", ref.Key, ref.Name, field)}
	}
	return pem, nil
}

// externalRedis is the external Redis as the gallery's pods see it (internal/config),
// with its password and CA bundle read from their Secrets.
func (r *GalleryReconciler) externalRedis(ctx context.Context, st *reconcileState) (config.Redis, []byte, error) {
	e := st.gallery.Spec.Cache.External
	c := config.Redis{Addr: e.Address, Username: e.Username, DB: int(e.DB)}
	if ref := e.PasswordSecretRef; ref != nil {
		pw, err := r.secretKey(ctx, st, ref.Name, ref.Key, "spec.cache.external.passwordSecretRef")
		if err != nil {
			return c, nil, err
		}
		c.Password = string(pw)
	}
	var ca []byte
	if t := e.TLS; t != nil && t.Enabled {
		c.TLS, c.TLSServerName = true, t.ServerName
		if ref := t.CASecretRef; ref != nil {
			var err error
			if ca, err = r.caBundle(ctx, st, ref, "spec.cache.external.tls.caSecretRef"); err != nil {
				return c, nil, err
			}
		}
	}
	return c, ca, nil
}

// externalDatabase is the external database as the gallery's pods see it, with its
// account and CA bundle read from their Secrets.
func (r *GalleryReconciler) externalDatabase(ctx context.Context, st *reconcileState) (config.Database, []byte, error) {
	g := st.gallery
	e := g.Spec.Database.External
	db := config.Database{
		Driver: string(e.Engine), Host: e.Host, ReaderHosts: e.ReaderHosts,
		Port: int(g.DatabasePort()), Name: e.Name, TLSMode: string(e.TLSMode),
	}
	const credentials = "spec.database.external.credentialsSecret"
	user, err := r.secretKey(ctx, st, e.CredentialsSecret.Name, e.CredentialsSecret.UsernameKey, credentials)
	if err != nil {
		return db, nil, err
	}
	pw, err := r.secretKey(ctx, st, e.CredentialsSecret.Name, e.CredentialsSecret.PasswordKey, credentials)
	if err != nil {
		return db, nil, err
	}
	db.User, db.Password = string(user), string(pw)
	var ca []byte
	if ref := e.CASecretRef; ref != nil && db.TLSMode != "disable" {
		if ca, err = r.caBundle(ctx, st, ref, "spec.database.external.caSecretRef"); err != nil {
			return db, nil, err
		}
	}
	return db, ca, nil
}

func (r *GalleryReconciler) s3Credentials(ctx context.Context, st *reconcileState) (*aws.Credentials, error) {
	name := st.gallery.Spec.Storage.S3.CredentialsSecret
	if name == "" {
		return nil, nil
	}
	const field = "spec.storage.s3.credentialsSecret"
	id, err := r.secretKey(ctx, st, name, "accessKeyId", field)
	if err != nil {
		return nil, err
	}
	secret, err := r.secretKey(ctx, st, name, "secretAccessKey", field)
	if err != nil {
		return nil, err
	}
	return &aws.Credentials{AccessKeyID: string(id), SecretAccessKey: string(secret)}, nil
}
