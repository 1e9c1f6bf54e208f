package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
	"github.com/sortographer/sortographer/internal/testservers"
)

// The preflight proves access with the gallery's own settings, and each way it fails
// shows as its own reason on the component's condition: a Redis password that is
// wrong, a database account that needs TLS, a bucket that does not exist. Real
// servers: redis-server with requirepass, MariaDB with a REQUIRE SSL account, versitygw.
// Fixing each (the Secret, tlsMode, the bucket) turns its condition Reachable.
func TestPreflightReportsWhyAccessFails(t *testing.T) {
	redis := testservers.RedisWith(t, testservers.RedisOptions{Password: "right-Passw0rd"})
	db := testservers.MariaDBRequiringTLS(t)
	s3srv := testservers.S3(t)
	ns := newNamespace(t)
	for _, s := range []*corev1.Secret{
		{ObjectMeta: metav1.ObjectMeta{Name: "redis", Namespace: ns}, Data: map[string][]byte{"password": []byte("wrong-Passw0rd")}},
		{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: ns}, Data: map[string][]byte{"username": []byte(db.User), "password": []byte(db.Password)}},
		{ObjectMeta: metav1.ObjectMeta{Name: "db-ca", Namespace: ns}, Data: map[string][]byte{"ca.pem": db.CA}},
		{ObjectMeta: metav1.ObjectMeta{Name: "s3", Namespace: ns}, Data: map[string][]byte{"accessKeyId": []byte(s3srv.AccessKey), "secretAccessKey": []byte(s3srv.SecretKey)}},
	} {
		if err := k8s.Create(context.Background(), s); err != nil {
			t.Fatal(err)
		}
	}
	port := int32(db.Port)
	g := newGallery(t, ns, func(g *galleryv1alpha1.Gallery) {
		g.Spec.Cache = galleryv1alpha1.CacheSpec{External: &galleryv1alpha1.ExternalRedisSpec{
			Address:           redis.Addr(),
			PasswordSecretRef: &galleryv1alpha1.SecretKeyRef{Name: "redis", Key: "password"},
		}}
		g.Spec.Database = galleryv1alpha1.DatabaseSpec{External: &galleryv1alpha1.ExternalDatabaseSpec{
			Engine: galleryv1alpha1.DatabaseMySQL, Host: db.Host, Port: &port, Name: db.Name,
			CredentialsSecret: galleryv1alpha1.CredentialsSecretRef{Name: "db", UsernameKey: "username", PasswordKey: "password"},
			TLSMode:           "disable",
			CASecretRef:       &galleryv1alpha1.SecretKeyRef{Name: "db-ca", Key: "ca.pem"},
		}}
		g.Spec.Storage = galleryv1alpha1.StorageSpec{S3: &galleryv1alpha1.S3StorageSpec{
			Bucket: "photos-missing", Region: s3srv.Region, Endpoint: s3srv.Endpoint, ForcePathStyle: true, CredentialsSecret: "s3",
		}}
	})
	want := func(typ, reason, says string) error {
		c := condition(t, g, typ)
		if c == nil || c.Reason != reason || !strings.Contains(c.Message, says) {
			return fmt.Errorf("%s = %+v, want %s saying %q", typ, c, reason, says)
		}
		if (c.Status == metav1.ConditionTrue) != (reason == galleryv1alpha1.ReasonReachable) {
			return fmt.Errorf("%s status %s with reason %s", typ, c.Status, reason)
		}
		return nil
	}
	eventually(t, "a reason for each failure", func() error {
		return errors.Join(
			want(galleryv1alpha1.ConditionCache, galleryv1alpha1.ReasonAuthenticationFailed, "refused the credentials"),
			want(galleryv1alpha1.ConditionDatabase, galleryv1alpha1.ReasonTLSMismatch, "only over TLS"),
			want(galleryv1alpha1.ConditionStorage, galleryv1alpha1.ReasonNotFound, "photos-missing does not exist"),
		)
	})
	if c := condition(t, g, galleryv1alpha1.ConditionReady); c == nil || c.Status != metav1.ConditionFalse {
		t.Errorf("Ready = %+v with three dependencies refusing, want False", c)
	}

	// The admin fixes all three: the password Secret, the TLS mode, the bucket.
	updateSecret(t, ns, "redis", "password", "right-Passw0rd")
	if _, err := s3srv.Client().CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String("photos-missing")}); err != nil {
		t.Fatal(err)
	}
	updateGallery(t, g, func(live *galleryv1alpha1.Gallery) {
		live.Spec.Database.External.TLSMode = "verify-full"
	})
	eventually(t, "every dependency Reachable", func() error {
		return errors.Join(
			want(galleryv1alpha1.ConditionCache, galleryv1alpha1.ReasonReachable, "answers"),
			want(galleryv1alpha1.ConditionDatabase, galleryv1alpha1.ReasonReachable, "answers"),
			want(galleryv1alpha1.ConditionStorage, galleryv1alpha1.ReasonReachable, "answers"),
		)
	})
}

// updateSecret sets one key of a Secret.
func updateSecret(t *testing.T, ns, name, key, value string) {
	t.Helper()
	var s corev1.Secret
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &s); err != nil {
		t.Fatal(err)
	}
	s.Data[key] = []byte(value)
	if err := k8s.Update(context.Background(), &s); err != nil {
		t.Fatal(err)
	}
}

// With S3 storage, StorageReady says whether the photo bucket keeps versions: the photo
// backup of an S3 Gallery (backups list its photos rather than copy them). Checked
// against a real S3-compatible server with versioning on one bucket and not the other.
func TestPreflightReportsBucketVersioning(t *testing.T) {
	srv := testservers.S3(t)
	ns := newNamespace(t)
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "s3", Namespace: ns},
		Data:       map[string][]byte{"accessKeyId": []byte(srv.AccessKey), "secretAccessKey": []byte(srv.SecretKey)},
	}
	if err := k8s.Create(context.Background(), secret); err != nil {
		t.Fatal(err)
	}
	versioned, plain := srv.Bucket(t), srv.Bucket(t)
	if _, err := srv.Client().PutBucketVersioning(context.Background(), &s3.PutBucketVersioningInput{
		Bucket:                  aws.String(versioned),
		VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatusEnabled},
	}); err != nil {
		t.Fatal(err)
	}
	for bucket, want := range map[string]string{versioned: "versioning Enabled", plain: "versioning is off (never enabled)"} {
		g := newGallery(t, ns, func(g *galleryv1alpha1.Gallery) {
			g.Name = bucket
			g.Spec.Storage = galleryv1alpha1.StorageSpec{S3: &galleryv1alpha1.S3StorageSpec{
				Bucket: bucket, Region: srv.Region, Endpoint: srv.Endpoint, ForcePathStyle: true, CredentialsSecret: "s3",
			}}
		})
		eventually(t, "StorageReady on "+bucket, func() error {
			c := condition(t, g, galleryv1alpha1.ConditionStorage)
			if c == nil || c.Status != metav1.ConditionTrue || !strings.Contains(c.Message, want) {
				return fmt.Errorf("StorageReady = %+v, want True saying %q", c, want)
			}
			return nil
		})
	}
}
