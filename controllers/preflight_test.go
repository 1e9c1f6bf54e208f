package controllers

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
	"github.com/sortographer/sortographer/internal/testservers"
)

// listen opens a real TCP listener that accepts and closes connections.
func listen(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	return l.Addr().String()
}

// closedPort is a loopback address where nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

func TestPreflightReportsExternalDependencies(t *testing.T) {
	ns := newNamespace(t)
	creds := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: ns},
		Data:       map[string][]byte{"username": []byte("app"), "password": []byte("pw")},
	}
	if err := k8s.Create(context.Background(), creds); err != nil {
		t.Fatal(err)
	}
	s3creds := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "s3", Namespace: ns},
		Data:       map[string][]byte{"accessKeyId": []byte("test"), "secretAccessKey": []byte("test-secret")},
	}
	if err := k8s.Create(context.Background(), s3creds); err != nil {
		t.Fatal(err)
	}
	redisAddr := listen(t)
	dbHost, dbPort, _ := net.SplitHostPort(closedPort(t))
	s3Endpoint := "http://" + closedPort(t)
	port := mustAtoi32(t, dbPort)
	g := newGallery(t, ns, func(g *galleryv1alpha1.Gallery) {
		g.Spec.Cache = galleryv1alpha1.CacheSpec{External: &galleryv1alpha1.ExternalRedisSpec{Address: redisAddr}}
		g.Spec.Database = galleryv1alpha1.DatabaseSpec{External: &galleryv1alpha1.ExternalDatabaseSpec{
			Engine: galleryv1alpha1.DatabaseMySQL, Host: dbHost, Port: &port,
			CredentialsSecret: galleryv1alpha1.CredentialsSecretRef{Name: "db"},
		}}
		g.Spec.Storage = galleryv1alpha1.StorageSpec{S3: &galleryv1alpha1.S3StorageSpec{
			Bucket: "photos", Region: "us-east-1", Endpoint: s3Endpoint, ForcePathStyle: true, CredentialsSecret: "s3",
		}}
	})
	eventually(t, "preflight conditions", func() error {
		cache := condition(t, g, galleryv1alpha1.ConditionCache)
		db := condition(t, g, galleryv1alpha1.ConditionDatabase)
		storage := condition(t, g, galleryv1alpha1.ConditionStorage)
		if cache == nil || cache.Status != metav1.ConditionTrue || cache.Reason != galleryv1alpha1.ReasonReachable {
			return fmt.Errorf("CacheReady = %+v", cache)
		}
		if db == nil || db.Status != metav1.ConditionFalse || db.Reason != galleryv1alpha1.ReasonUnreachable || !strings.Contains(db.Message, "connection refused") {
			return fmt.Errorf("DatabaseReady = %+v", db)
		}
		if storage == nil || storage.Status != metav1.ConditionFalse || !strings.Contains(storage.Message, "head bucket photos") {
			return fmt.Errorf("StorageReady = %+v", storage)
		}
		return nil
	})
	// The database comes up: the retry (30 s) is too slow for a test, so a spec change
	// forces the next pass.
	l, err := net.Listen("tcp", net.JoinHostPort(dbHost, dbPort))
	if err != nil {
		t.Fatalf("reopen the database port: %v", err)
	}
	defer func() { _ = l.Close() }()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	updateGallery(t, g, func(live *galleryv1alpha1.Gallery) {
		live.Spec.Server.Replicas = ptrInt32(3)
	})
	eventually(t, "database reachable", func() error {
		if c := condition(t, g, galleryv1alpha1.ConditionDatabase); c == nil || c.Reason != galleryv1alpha1.ReasonReachable {
			return fmt.Errorf("DatabaseReady = %+v", c)
		}
		return nil
	})
}

func mustAtoi32(t *testing.T, s string) int32 {
	t.Helper()
	var n int32
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatal(err)
	}
	return n
}

func ptrInt32(n int32) *int32 { return &n }

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
