package realnode

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
	"github.com/sortographer/sortographer/internal/testenv"
)

// restoredName is the Gallery restored from the default Gallery's backup.
const restoredName = "restored"

// testBackupAndRestore backs the running Gallery up to a volume on demand (a real
// CronJob-made Job in the gallery image, against the managed MariaDB and the photo
// volume, while the gallery serves), proves the backup with a restore drill Job, and
// starts a new Gallery from it: its restore Job fills a fresh MariaDB and volume before
// its server starts, and the user signs in there with their password and finds every
// photo with its labels and thumbnail.
func testBackupAndRestore(t *testing.T, g *galleryv1alpha1.Gallery, u *galleryUser) {
	want := u.images(t)
	kubectl(t, `apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: backups, namespace: `+namespace+`}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
`, "apply", "-f", "-")
	kubectl(t, "", "patch", "gallery", "-n", namespace, name, "--type=merge", "-p",
		`{"spec":{"backup":{"schedule":"0 3 * * *","destination":{"volume":{"claimName":"backups"}},"retention":{"keep":3},"drill":{"schedule":"0 5 * * 0"}}}}`)
	start := time.Now()
	kubectl(t, "", "annotate", "gallery", "-n", namespace, name, galleryv1alpha1.AnnotationBackupNow+"="+randomValue(t)[:8])
	var backup *galleryv1alpha1.BackupRecord
	testenv.Eventually(t, 4*time.Minute, "the on-demand backup in status", func() error {
		live, err := getGallery(name)
		if err != nil {
			return err
		}
		if b := live.Status.Backup; b != nil && b.LastFailure != nil {
			return fmt.Errorf("backup failed: %s", b.LastFailure.Reason)
		}
		if b := live.Status.Backup; b == nil || b.LastSuccessful == nil {
			return fmt.Errorf("no successful backup yet: %+v", live.Status.Backup)
		}
		backup = live.Status.Backup.LastSuccessful
		return nil
	})
	t.Logf("FIGURE on-demand backup on the real node: annotation → status %s (%d images, %d bytes, %d photos copied)",
		time.Since(start).Round(100*time.Millisecond), backup.Images, backup.SizeBytes, backup.Photos.Copied)
	if backup.Images != int64(len(want)) || backup.Users < 1 || backup.Photos.Copied < int64(len(want)) {
		t.Fatalf("backup %+v, want %d images and their photos", backup, len(want))
	}

	// The drill: a Job from the drill CronJob, as `kubectl create job --from` makes.
	start = time.Now()
	kubectl(t, "", "create", "job", "-n", namespace, "--from=cronjob/"+g.DrillName(), "drill-now")
	testenv.Eventually(t, 3*time.Minute, "the drill in status", func() error {
		live, err := getGallery(name)
		if err != nil {
			return err
		}
		d := live.Status.Backup.LastDrill
		if d == nil {
			return fmt.Errorf("no drill result yet")
		}
		if !d.Succeeded || d.Backup != backup.Name {
			t.Fatalf("drill %+v, want backup %s restored and checked", d, backup.Name)
		}
		return nil
	})
	t.Logf("FIGURE restore drill on the real node: %s", time.Since(start).Round(100*time.Millisecond))

	// A new Gallery from the backup, small enough to run beside the first.
	start = time.Now()
	kubectl(t, `apiVersion: sortographer.io/v1alpha1
kind: Gallery
metadata: {name: `+restoredName+`, namespace: `+namespace+`}
spec:
  restoreFrom:
    source: {volume: {claimName: backups}}
    gallery: `+name+`
  server: {resources: {requests: {cpu: 100m, memory: 256Mi}, limits: {memory: 1Gi}}}
  workers: {resources: {requests: {cpu: 100m, memory: 256Mi}, limits: {memory: 1Gi}}}
  database: {managed: {resources: {requests: {cpu: 100m, memory: 256Mi}, limits: {memory: 1Gi}}}}
`, "apply", "-f", "-")
	var restored *galleryv1alpha1.Gallery
	testenv.Eventually(t, 6*time.Minute, "the restored Gallery Ready", func() error {
		live, err := getGallery(restoredName)
		if err != nil {
			return err
		}
		if r := live.Status.Restore; r != nil && r.Phase == galleryv1alpha1.RestoreFailed {
			t.Fatalf("restore failed: %s", r.Message)
		}
		for _, c := range live.Status.Conditions {
			if c.Type == galleryv1alpha1.ConditionReady && c.Status == "True" {
				restored = live
				return nil
			}
		}
		return fmt.Errorf("restore %+v; not Ready", live.Status.Restore)
	})
	t.Logf("FIGURE new Gallery from the backup → Ready on the real node: %s (restore %+v)", time.Since(start).Round(100*time.Millisecond), restored.Status.Restore)
	if r := restored.Status.Restore; r.Backup != backup.Name || r.Images != backup.Images || r.PhotosVerified < int64(len(want)) {
		t.Errorf("restore status %+v, want backup %s with %d images and their photos verified", r, backup.Name, backup.Images)
	}

	var svc corev1.Service
	if err := env.client.Get(ctx(t), client.ObjectKey{Namespace: namespace, Name: restored.ServerName()}, &svc); err != nil {
		t.Fatal(err)
	}
	there := &galleryUser{base: fmt.Sprintf("http://%s:%d", svc.Spec.ClusterIP, svc.Spec.Ports[0].Port), email: u.email, password: u.password}
	testenv.Eventually(t, time.Minute, "sign-in on the restored Gallery", there.trySignIn)
	got := there.images(t)
	if len(got) != len(want) {
		t.Fatalf("the restored Gallery shows %d photos, the original %d", len(got), len(want))
	}
	for i, img := range got {
		w := want[i]
		if img.ID != w.ID || img.Status != w.Status || !slices.Equal(labelNames(img), labelNames(w)) {
			t.Errorf("restored photo %s (%s, %v), want %s (%s, %v)", img.ID, img.Status, labelNames(img), w.ID, w.Status, labelNames(w))
		}
		var thumb []byte
		if err := there.raw(http.MethodGet, "/api/images/"+img.ID+"/thumbnail", &thumb); err != nil || len(thumb) == 0 {
			t.Errorf("thumbnail of restored photo %s: %d bytes, %v", img.ID, len(thumb), err)
		}
	}
	kubectl(t, "", "delete", "gallery", "-n", namespace, restoredName, "--wait=false")
}

func labelNames(img image) []string {
	var names []string
	for _, l := range img.Labels {
		names = append(names, l.Name)
	}
	slices.Sort(names)
	return names
}

func getGallery(n string) (*galleryv1alpha1.Gallery, error) {
	var g galleryv1alpha1.Gallery
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := env.client.Get(c, client.ObjectKey{Namespace: namespace, Name: n}, &g)
	return &g, err
}

// raw GETs path as the user and returns the body of a 200 answer.
func (u *galleryUser) raw(method, path string, body *[]byte) error {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(c, method, u.base+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+u.token)
	res, err := noKeepAlive.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if *body, err = io.ReadAll(res.Body); err != nil {
		return err
	}
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s answered %d", method, path, res.StatusCode)
	}
	return nil
}
