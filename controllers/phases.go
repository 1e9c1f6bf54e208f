package controllers

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
	"github.com/sortographer/sortographer/controllers/specs"
)

// reconcileState carries what one pass learned from phase to phase.
type reconcileState struct {
	gallery *galleryv1alpha1.Gallery
	// read is the Gallery as the pass read it, untouched: the status patch is computed
	// against it.
	read *galleryv1alpha1.Gallery
	now  time.Time
	// configHash covers the ConfigMap and every Secret value the pods consume.
	configHash string
	// blocked says why the pass stopped before touching the pods (a referenced Secret
	// is missing); the running pods keep their last good configuration.
	blocked string
	// requeueAfter is when a schedule window opens or closes next.
	requeueAfter time.Duration
	// observed holds the children read back for status.
	observed *observed
	// preflight holds what the external-dependency checks found.
	preflight preflightResult
	// backlog is the queue backlog the operator's own scaler read, if it did; backlogErr
	// why it could not.
	backlog    *int64
	backlogErr error
	// serverFloor and workersFloor are the schedules' minimums now (see scheduleFloors).
	serverFloor, workersFloor int32
	// invalidSpec lists what the schema could not catch but the operator did (a cron
	// expression or time zone that does not parse); the rest of the Gallery still runs.
	invalidSpec []string
	// restore is what this pass learned of spec.restoreFrom's restore (nil: nothing new).
	restore *galleryv1alpha1.RestoreStatus
	// upgrade is what the upgrade phase found (nil: it did not run).
	upgrade *upgradeCheck
	// backupRequest is the backup-now value this pass started a Job for.
	backupRequest string
	// backupDestination says why the backup destination cannot be used (its claim or
	// credentials Secret is missing); empty when it can.
	backupDestination string
	// secrets are the Secrets this pass read, by name. Secrets are not cached
	// (ClientOptions), so each is read from the API server once a pass, not once for
	// each phase that hashes it; a change during the pass brings another pass.
	secrets map[string]*corev1.Secret
	// failure is the phase that failed this pass and why (nil: none did).
	failure *phaseFailure
	// created names the children this pass created ("Kind name"), for its one Created
	// event.
	created []string
	// hpaToleranceUnsupported is GalleryReconciler.HPAToleranceUnsupported.
	hpaToleranceUnsupported bool
}

// phaseFailure is a failed phase, for status: Ready, and the condition of the component
// the phase makes, carry its error.
type phaseFailure struct {
	phase string
	err   error
}

// phaseConditions are the component conditions of the phases that make one component's
// children.
var phaseConditions = map[string]string{
	"storage":  galleryv1alpha1.ConditionStorage,
	"cache":    galleryv1alpha1.ConditionCache,
	"database": galleryv1alpha1.ConditionDatabase,
	"server":   galleryv1alpha1.ConditionServer,
	"workers":  galleryv1alpha1.ConditionWorkers,
	"ingress":  galleryv1alpha1.ConditionIngress,
}

// secret reads Secret name of the Gallery's namespace, once a pass (see secrets).
func (r *GalleryReconciler) secret(ctx context.Context, st *reconcileState, name string) (*corev1.Secret, error) {
	if s, ok := st.secrets[name]; ok {
		return s, nil
	}
	s := &corev1.Secret{}
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: st.gallery.Namespace, Name: name}, s); err != nil {
		return nil, err
	}
	if st.secrets == nil {
		st.secrets = map[string]*corev1.Secret{}
	}
	st.secrets[name] = s
	return s, nil
}

// holdForUpgrade says whether the server's and workers' Deployments stay as they are:
// a new image's migrations have not succeeded.
func (st *reconcileState) holdForUpgrade() bool { return st.upgrade != nil && st.upgrade.hold }

// requeueSoon asks for another pass within d (the earliest request wins).
func (st *reconcileState) requeueSoon(d time.Duration) {
	if st.requeueAfter == 0 || d < st.requeueAfter {
		st.requeueAfter = d
	}
}

type phase struct {
	name string
	run  func(context.Context, *reconcileState) error
}

// phases are run in order; each applies one concern's children.
func (r *GalleryReconciler) phases() []phase {
	return []phase{
		{"secrets", r.reconcileSecrets},
		{"preflight", r.reconcilePreflight},
		{"config", r.reconcileConfig},
		{"identity", r.reconcileIdentity},
		{"storage", r.reconcileStorage},
		{"cache", r.reconcileCache},
		{"database", r.reconcileDatabase},
		{"restore", r.reconcileRestore},
		{"upgrade", r.reconcileUpgrade},
		{"server", r.reconcileServer},
		{"workers", r.reconcileWorkers},
		{"ingress", r.reconcileIngress},
		{"network policies", r.reconcileNetworkPolicies},
		{"monitoring", r.reconcileMonitoring},
		{"backup", r.reconcileBackup},
	}
}

func (r *GalleryReconciler) applier() *applier {
	return &applier{client: r.Client, scheme: r.Scheme, metrics: r.galleryMetrics(), apiReader: r.APIReader, checks: &r.childChecks}
}

// applyAll applies each non-nil object and notes each one it creates for the pass's
// Created event (recordCreated).
func (r *GalleryReconciler) applyAll(ctx context.Context, st *reconcileState, objs ...client.Object) error {
	a := r.applier()
	for _, o := range objs {
		if o == nil {
			continue
		}
		res, err := a.apply(ctx, st.gallery, o)
		if err != nil {
			return err
		}
		if res == created {
			kind := o.GetObjectKind().GroupVersionKind().Kind
			logf.FromContext(ctx).Info("created child", "kind", kind, "child", o.GetName())
			st.created = append(st.created, kind+" "+o.GetName())
		}
	}
	return nil
}

// removeAll deletes children the Gallery no longer wants.
func (r *GalleryReconciler) removeAll(ctx context.Context, st *reconcileState, objs ...client.Object) error {
	a := r.applier()
	for _, o := range objs {
		deleted, err := a.deleteIfPresent(ctx, st.gallery, o)
		if err != nil {
			return fmt.Errorf("delete %s %s: %w", a.kindOf(o), o.GetName(), err)
		}
		if deleted {
			r.Recorder.Eventf(st.gallery, nil, corev1.EventTypeNormal, "Deleted", "Delete", "deleted %s %s, no longer in the spec", a.kindOf(o), o.GetName())
		}
	}
	return nil
}

// reconcileChildren applies the children the spec asks for, then deletes those it no
// longer asks for.
func (r *GalleryReconciler) reconcileChildren(ctx context.Context, st *reconcileState, children ...specs.Child) error {
	wanted, unwanted := sortChildren(children)
	if err := r.applyAll(ctx, st, wanted...); err != nil {
		return err
	}
	return r.removeAll(ctx, st, unwanted...)
}

// maxEventNote is the longest note an events.k8s.io Event may carry.
const maxEventNote = 1024

// recordCreated records one Created event for the children a pass created, however
// many: a new Gallery's first pass creates about twenty, and an event each was as many
// events held in the operator's memory (the broadcaster keeps each six to twelve minutes
// to find repeats) as there were children, while only the first one's note reached the
// API server: events.k8s.io counts later events of the same reason and object as a
// series of the first. Within those minutes this event, too, only counts in the first
// one's series.
func (r *GalleryReconciler) recordCreated(st *reconcileState) {
	if len(st.created) == 0 {
		return
	}
	r.Recorder.Eventf(st.gallery, nil, corev1.EventTypeNormal, "Created", "Create", "%s", createdNote(st.created))
}

// createdNote lists what a pass created ("created 3 children: ConfigMap g-config, …"),
// cut to fit an event's note with the number left out ("…, and 4 more").
func createdNote(created []string) string {
	noun := "children"
	if len(created) == 1 {
		noun = "child"
	}
	note := fmt.Sprintf("created %d %s: ", len(created), noun)
	for i, c := range created {
		sep := ", "
		if i == 0 {
			sep = ""
		}
		after := "" // what must still fit if the list stopped after c
		if left := len(created) - i - 1; left > 0 {
			after = fmt.Sprintf(", and %d more", left)
		}
		if i > 0 && len(note)+len(sep)+len(c)+len(after) > maxEventNote {
			return note + fmt.Sprintf(", and %d more", len(created)-i)
		}
		note += sep + c
	}
	return note
}

// sortChildren splits children into what to apply and what to delete, in their order;
// a child with neither is someone else's.
func sortChildren(children []specs.Child) (wanted, unwanted []client.Object) {
	for _, c := range children {
		switch {
		case c.Desired != nil:
			wanted = append(wanted, c.Desired)
		case c.Ref != nil:
			unwanted = append(unwanted, c.Ref)
		}
	}
	return wanted, unwanted
}

// reconcileSecrets creates the generated Secret (once: existing values are never
// rewritten, missing keys are added), checks that every Secret the pods consume exists
// with its key, and hashes their values into configHash.
func (r *GalleryReconciler) reconcileSecrets(ctx context.Context, st *reconcileState) error {
	g := st.gallery
	if err := r.ensureGeneratedSecret(ctx, st, g.GeneratedSecretName(), specs.GeneratedSecretKeys(g), true); err != nil {
		return err
	}
	if err := r.ensureGeneratedSecret(ctx, st, g.DatabaseSecretName(), specs.DatabaseSecretKeys(g), false); err != nil {
		return err
	}
	h := sha256.New()
	cm := specs.ConfigMap(g)
	keys := make([]string, 0, len(cm.Data))
	for k := range cm.Data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(h, "cm/%s=%s\n", k, cm.Data[k])
	}
	wanted := specs.SecretEnv(g)
	for _, f := range specs.SecretFiles(g) {
		wanted = append(wanted, specs.SecretRef{Secret: f.Secret, Key: f.Key})
	}
	if ok, err := r.hashSecretValues(ctx, st, h, wanted); !ok || err != nil {
		return err
	}
	st.configHash = hex.EncodeToString(h.Sum(nil))[:16]
	return nil
}

// hashSecretValues writes the value of each Secret key refs name into h, reading each
// Secret once a pass. A missing Secret or key sets st.blocked and returns false: nothing
// that reads it can start.
func (r *GalleryReconciler) hashSecretValues(ctx context.Context, st *reconcileState, h io.Writer, refs []specs.SecretRef) (bool, error) {
	g := st.gallery
	for _, ref := range refs {
		s, err := r.secret(ctx, st, ref.Secret)
		if apierrors.IsNotFound(err) {
			st.blocked = fmt.Sprintf("Secret %q, which the spec references, does not exist in namespace %s", ref.Secret, g.Namespace)
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("get secret %s: %w", ref.Secret, err)
		}
		v, ok := s.Data[ref.Key]
		if !ok {
			st.blocked = fmt.Sprintf("Secret %q has no key %q, which the spec references", ref.Secret, ref.Key)
			return false, nil
		}
		fmt.Fprintf(h, "secret/%s/%s=", ref.Secret, ref.Key)
		_, _ = h.Write(v)
		_, _ = h.Write([]byte{'\n'})
	}
	return true, nil
}

// podHash is the config hash of a pod that reads configuration summarised by base and the
// Secret keys refs: it changes when either does, and only then. ok is false when a key
// is missing (st.blocked says which).
func (r *GalleryReconciler) podHash(ctx context.Context, st *reconcileState, base string, refs []specs.SecretRef) (hash string, ok bool, err error) {
	h := sha256.New()
	fmt.Fprintf(h, "base=%s\n", base)
	if ok, err := r.hashSecretValues(ctx, st, h, refs); !ok || err != nil {
		return "", false, err
	}
	return hex.EncodeToString(h.Sum(nil))[:16], true, nil
}

// ensureGeneratedSecret makes sure Secret name holds every key in want, generating only
// the missing ones. owned Secrets go with the Gallery; the database's does not.
func (r *GalleryReconciler) ensureGeneratedSecret(ctx context.Context, st *reconcileState, name string, want []string, owned bool) error {
	g := st.gallery
	if len(want) == 0 {
		return nil
	}
	live := &corev1.Secret{}
	read, err := r.secret(ctx, st, name)
	switch {
	case err == nil:
		live = read
	case !apierrors.IsNotFound(err):
		return fmt.Errorf("get generated secret: %w", err)
	}
	values := map[string][]byte{}
	for k, v := range live.Data {
		values[k] = v
	}
	missing := false
	for _, k := range want {
		if _, ok := values[k]; ok {
			continue
		}
		missing = true
		v, err := randomSecret()
		if err != nil {
			return err
		}
		values[k] = v
	}
	if !missing && (!owned || metav1IsControlledBy(live, g)) {
		return nil
	}
	delete(st.secrets, name) // what the pass read is no longer what is there
	if !owned {
		res, err := r.applier().applyUnowned(ctx, g, specs.DatabaseSecret(g, values))
		if err == nil && res == created {
			st.created = append(st.created, "Secret "+name+" (kept when the Gallery is deleted, like the database volume)")
		}
		return err
	}
	return r.applyAll(ctx, st, specs.GeneratedSecret(g, values))
}

// randomSecret is 32 random bytes (256 bits), URL-safe base64 so it is also a valid
// password for Redis and MariaDB.
func randomSecret() ([]byte, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("generate secret: %w", err)
	}
	return []byte(base64.RawURLEncoding.EncodeToString(b)), nil
}

// referencedSecrets are the admin's Secrets a Gallery uses (for the watch index).
func referencedSecrets(g *galleryv1alpha1.Gallery) []string {
	var names []string
	for _, r := range specs.SecretEnv(g) {
		names = append(names, r.Secret)
	}
	for _, f := range specs.SecretFiles(g) {
		names = append(names, f.Secret)
	}
	slices.Sort(names)
	return slices.Compact(names)
}

func (r *GalleryReconciler) reconcileConfig(ctx context.Context, st *reconcileState) error {
	g := st.gallery
	objs := []client.Object{specs.ConfigMap(g)}
	if g.Spec.Cache.Managed != nil {
		objs = append(objs, specs.RedisConfigMap(g))
	}
	return r.applyAll(ctx, st, objs...)
}

func (r *GalleryReconciler) reconcileIdentity(ctx context.Context, st *reconcileState) error {
	return r.reconcileChildren(ctx, st, specs.IdentityChildren(st.gallery)...)
}

func (r *GalleryReconciler) reconcileStorage(ctx context.Context, st *reconcileState) error {
	g := st.gallery
	var objs []client.Object
	if c := specs.PhotosClaim(g); c != nil {
		objs = append(objs, c)
	}
	if c := specs.SQLiteClaim(g); c != nil {
		objs = append(objs, c)
	}
	return r.applyAll(ctx, st, objs...)
}

func (r *GalleryReconciler) reconcileCache(ctx context.Context, st *reconcileState) error {
	g := st.gallery
	if g.Spec.Cache.Managed == nil {
		// Switched to an external Redis: the managed one goes.
		return r.reconcileChildren(ctx, st, specs.ManagedRedisChildren(g, "")...)
	}
	// Redis restarts only when its own configuration or its password changes; its queue
	// is rebuilt from the database if persistence is off.
	hash, ok, err := r.podHash(ctx, st, specs.RedisConfigHash(g), specs.RedisSecretRefs(g))
	if !ok || err != nil {
		return err
	}
	if err := r.applyStatefulSet(ctx, st, specs.RedisStatefulSet(g, hash), true); err != nil {
		return err
	}
	return r.applyAll(ctx, st, specs.RedisService(g))
}

func (r *GalleryReconciler) reconcileDatabase(ctx context.Context, st *reconcileState) error {
	g := st.gallery
	if g.Spec.Database.Managed == nil {
		return nil
	}
	// MariaDB's init container applies the passwords at every start, so a rotated one
	// rolls it; nothing in the app's configuration does.
	hash, ok, err := r.podHash(ctx, st, "", specs.MariaDBSecretRefs(g))
	if !ok || err != nil {
		return err
	}
	if err := r.applyStatefulSet(ctx, st, specs.MariaDBStatefulSet(g, hash), false); err != nil {
		return err
	}
	return r.applyAll(ctx, st, specs.MariaDBService(g))
}

func (r *GalleryReconciler) reconcileServer(ctx context.Context, st *reconcileState) error {
	g := st.gallery
	if st.holdForRestore() {
		return nil // nothing serves an empty or half-restored database
	}
	if st.holdForUpgrade() {
		return nil // the running pods serve until the new image's migrations succeed
	}
	if g.ServerAutoscaled() {
		if err := r.applier().releaseReplicas(ctx, g, g.ServerName()); err != nil {
			return err
		}
	}
	return r.reconcileChildren(ctx, st, specs.ServerChildren(g, st.configHash, st.serverFloor, !st.hpaToleranceUnsupported)...)
}

func (r *GalleryReconciler) reconcileWorkers(ctx context.Context, st *reconcileState) error {
	g := st.gallery
	if st.holdForRestore() || st.holdForUpgrade() {
		return nil
	}
	floor := st.workersFloor
	scaler := specs.WorkerScalerFor(g, r.KEDAInstalled)
	var replicas *int32
	switch scaler {
	case specs.ScaleWorkersFixed:
		replicas = ptr.To(g.WorkerReplicas())
	case specs.ScaleWorkersHPAWithBacklog, specs.ScaleWorkersBacklog:
		current := r.liveReplicas(ctx, g)
		need, ok := r.backlogNeed(ctx, st, floor, current)
		switch {
		case ok:
			floor = max(floor, need)
		case current != nil:
			floor = max(floor, *current) // the queue cannot be read: never scale in blind
		}
		if scaler == specs.ScaleWorkersBacklog {
			replicas = ptr.To(max(floor, g.Spec.Autoscaling.Workers.MinReplicas))
		}
	}
	if replicas == nil && g.RunsWorkers() {
		if err := r.applier().releaseReplicas(ctx, g, g.WorkersName()); err != nil {
			return err
		}
	}
	return r.reconcileChildren(ctx, st, specs.WorkersChildren(g, st.configHash, replicas, scaler, floor, !st.hpaToleranceUnsupported, r.KEDAInstalled)...)
}

func (r *GalleryReconciler) reconcileIngress(ctx context.Context, st *reconcileState) error {
	return r.reconcileChildren(ctx, st, specs.IngressChildren(st.gallery)...)
}

func (r *GalleryReconciler) reconcileNetworkPolicies(ctx context.Context, st *reconcileState) error {
	g := st.gallery
	return r.reconcileChildren(ctx, st, specs.NetworkPolicyChildren(g, specs.WorkerScalerFor(g, r.KEDAInstalled))...)
}

// reconcileMonitoring applies the PodMonitor of the server and workers where the
// Prometheus Operator's kind is served, and deletes it when the spec turns it off.
func (r *GalleryReconciler) reconcileMonitoring(ctx context.Context, st *reconcileState) error {
	if !r.PodMonitorInstalled {
		return nil
	}
	return r.reconcileChildren(ctx, st, specs.MonitoringChildren(st.gallery)...)
}

// scheduleFloors are the highest server and worker minimums of the schedule windows
// open now, and set requeueAfter to the next window boundary (never polling).
func (st *reconcileState) scheduleFloors() (server, workers int32) {
	a := st.gallery.Spec.Autoscaling
	if a == nil || len(a.Schedules) == 0 {
		return 0, 0
	}
	var next time.Time
	for _, s := range a.Schedules {
		w, err := windowAt(s, st.now)
		if err != nil {
			st.invalidSpec = append(st.invalidSpec, "spec.autoscaling.schedules: "+err.Error())
			continue // the other schedules still apply
		}
		if w.open {
			server = max(server, ptrOr(s.ServerMinReplicas))
			workers = max(workers, ptrOr(s.WorkersMinReplicas))
		}
		if next.IsZero() || w.boundary.Before(next) {
			next = w.boundary
		}
	}
	if !next.IsZero() {
		st.requeueSoon(next.Sub(st.now) + time.Second)
	}
	return server, workers
}

func ptrOr(p *int32) int32 {
	if p == nil {
		return 0
	}
	return *p
}
