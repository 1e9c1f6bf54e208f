package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
	"github.com/sortographer/sortographer/controllers/specs"
	"github.com/sortographer/sortographer/internal/preflight"
)

// observed is what the operator read back from the children.
type observed struct {
	server, workers *appsv1.Deployment
	redis, database *appsv1.StatefulSet
	photos, sqlite  *corev1.PersistentVolumeClaim
	ingress         *networkingv1.Ingress
	// serverHPA and workersHPA tell when autoscaling hits its limits.
	serverHPA, workersHPA *autoscalingv2.HorizontalPodAutoscaler
	// pods are the Gallery's pods (from the operator's pod cache), oomKills their recent
	// OOM kills, newest first; podsUnread says the pods could not be listed
	// (MemoryPressure and the pod metrics then keep their last value).
	pods       []corev1.Pod
	oomKills   []oomKill
	podsUnread bool
	// backupRuns are the backup, restore and drill Jobs, newest first.
	backupRuns []jobRun
}

// observe reads the children that status is computed from. A missing child is nil.
func (r *GalleryReconciler) observe(ctx context.Context, st *reconcileState) error {
	g := st.gallery
	f := fetcher{ctx: ctx, c: r.Client, ns: g.Namespace}
	st.observed = &observed{
		server:     fetch(&f, g.ServerName(), &appsv1.Deployment{}),
		workers:    fetch(&f, g.WorkersName(), &appsv1.Deployment{}),
		redis:      fetch(&f, g.RedisName(), &appsv1.StatefulSet{}),
		database:   fetch(&f, g.DatabaseName(), &appsv1.StatefulSet{}),
		photos:     fetch(&f, g.PhotosClaimName(), &corev1.PersistentVolumeClaim{}),
		sqlite:     fetch(&f, g.SQLiteClaimName(), &corev1.PersistentVolumeClaim{}),
		ingress:    fetch(&f, g.IngressName(), &networkingv1.Ingress{}),
		serverHPA:  fetch(&f, g.ServerName(), &autoscalingv2.HorizontalPodAutoscaler{}),
		workersHPA: fetch(&f, g.WorkersName(), &autoscalingv2.HorizontalPodAutoscaler{}),
	}
	var pods corev1.PodList
	if err := r.Client.List(ctx, &pods, client.InNamespace(g.Namespace), client.MatchingLabels(galleryPodLabels(g))); err != nil {
		f.errs = append(f.errs, fmt.Errorf("list pods for status: %w", err))
		st.observed.podsUnread = true
	} else {
		st.observed.pods = pods.Items
		st.observed.oomKills = recentOOMKills(pods.Items, st.now)
		if d := nextOOMExpiry(st.observed.oomKills, st.now); d > 0 {
			st.requeueSoon(d + time.Second) // MemoryPressure changes when a kill leaves the window
		}
	}
	runs, err := r.observeBackupJobs(ctx, g)
	if err != nil {
		f.errs = append(f.errs, err)
	}
	st.observed.backupRuns = runs
	return errors.Join(f.errs...)
}

// galleryPodLabels select the Gallery's pods; the operator's cache holds no other pods
// (see CacheOptions).
func galleryPodLabels(g *galleryv1alpha1.Gallery) map[string]string {
	return map[string]string{galleryv1alpha1.LabelManagedBy: galleryv1alpha1.ManagedBy, galleryv1alpha1.LabelGallery: g.Name}
}

// fetcher reads objects of one namespace, collecting errors.
type fetcher struct {
	ctx  context.Context
	c    client.Client
	ns   string
	errs []error
}

// fetch reads one object: nil when it does not exist (or could not be read; the error is
// kept in the fetcher).
func fetch[T client.Object](f *fetcher, name string, obj T) T {
	var none T
	err := f.c.Get(f.ctx, client.ObjectKey{Namespace: f.ns, Name: name}, obj)
	switch {
	case apierrors.IsNotFound(err):
		return none
	case err != nil:
		f.errs = append(f.errs, fmt.Errorf("read %T %s for status: %w", obj, name, err))
		return none
	}
	return obj
}

// writeStatus computes the whole status from the observations, reports it in the
// operator's metrics, and writes it only when it changed. observedGeneration moves only
// after a pass that succeeded.
func (r *GalleryReconciler) writeStatus(ctx context.Context, st *reconcileState, passSucceeded bool) error {
	g := st.gallery
	before := &st.read.Status
	computeStatus(g, st, passSucceeded)
	r.galleryMetrics().observe(g, st.observed)
	if !statusChanged(before, &g.Status) {
		return nil
	}
	// Only the status goes out: st.gallery's spec carries the operator's default images.
	out := st.read.DeepCopy()
	out.Status = *g.Status.DeepCopy()
	if err := r.Client.Status().Patch(ctx, out, statusPatch(st.read)); err != nil {
		if isConflict(err) {
			// The cache lags our own last write. Status-only changes do not pass the
			// Gallery watch's predicate, so nothing else would bring this pass back.
			st.requeueSoon(time.Second)
			return nil
		}
		return fmt.Errorf("patch status: %w", err)
	}
	if st.blocked != "" && !blockedBefore(before, st.blocked) {
		r.Recorder.Eventf(g, nil, corev1.EventTypeWarning, galleryv1alpha1.ReasonMissingReference, "Reconcile", "%s", st.blocked)
	}
	if len(st.invalidSpec) > 0 {
		if prev := meta.FindStatusCondition(before.Conditions, galleryv1alpha1.ConditionReady); prev == nil || prev.Reason != galleryv1alpha1.ReasonInvalidSpec {
			r.Recorder.Eventf(g, nil, corev1.EventTypeWarning, galleryv1alpha1.ReasonInvalidSpec, "Reconcile", "%s", strings.Join(st.invalidSpec, "; "))
		}
	}
	for _, c := range g.Status.Conditions {
		prev := meta.FindStatusCondition(before.Conditions, c.Type)
		if c.Type != galleryv1alpha1.ConditionReady && c.Status == metav1.ConditionFalse && c.Reason == galleryv1alpha1.ReasonProgressDeadlineExceeded &&
			(prev == nil || prev.Reason != c.Reason) {
			r.Recorder.Eventf(g, nil, corev1.EventTypeWarning, "Degraded", "Reconcile", "%s: %s", c.Type, c.Message)
		}
	}
	// After the write, so a kill is reported once: the next pass finds it in the message.
	var previous string
	if c := meta.FindStatusCondition(before.Conditions, galleryv1alpha1.ConditionMemoryPressure); c != nil {
		previous = c.Message
	}
	if o := st.observed; o != nil && !o.podsUnread {
		for _, k := range newOOMKills(o.oomKills, previous) {
			r.Recorder.Eventf(g, nil, corev1.EventTypeWarning, galleryv1alpha1.ReasonOOMKilled, "Reconcile", "%s", k.String())
		}
	}
	return nil
}

// statusChanged reports whether the computed status differs from the one read: a steady
// state writes nothing.
func statusChanged(before, after *galleryv1alpha1.GalleryStatus) bool {
	return !equality.Semantic.DeepEqual(before, after)
}

// statusPatch is a JSON merge patch from the Gallery as the pass read it to the
// computed one, so only what changed is sent (as Cluster API's and Flux's patch helpers
// do). It carries the resourceVersion read: a pass that started from a Gallery older
// than the API server's (the cache lagging the last status write, or a restore that
// succeeded meanwhile) must not write its stale view over the newer status, so that
// patch conflicts and the pass runs again.
func statusPatch(read *galleryv1alpha1.Gallery) client.Patch {
	return client.MergeFromWithOptions(read, client.MergeFromWithOptimisticLock{})
}

func blockedBefore(s *galleryv1alpha1.GalleryStatus, msg string) bool {
	c := meta.FindStatusCondition(s.Conditions, galleryv1alpha1.ConditionReady)
	return c != nil && c.Reason == galleryv1alpha1.ReasonMissingReference && c.Message == msg
}

// computeStatus is pure: the status follows from the Gallery, the pass and what was
// observed.
func computeStatus(g *galleryv1alpha1.Gallery, st *reconcileState, passSucceeded bool) {
	o := st.observed
	if o == nil {
		o = &observed{}
	}
	gen := g.Generation
	setServerCondition(g, o.server, o.serverHPA, !st.hpaToleranceUnsupported, gen)
	setWorkersCondition(g, o.workers, o.workersHPA, !st.hpaToleranceUnsupported, gen)
	setCacheCondition(g, o.redis, st.preflight, gen)
	setDatabaseCondition(g, o.database, o.sqlite, st.preflight, gen)
	setStorageCondition(g, o.photos, st.preflight, gen)
	setIngressCondition(g, o.ingress, gen)
	if !o.podsUnread {
		setMemoryCondition(g, o.oomKills, gen)
	}
	if st.restore != nil {
		g.Status.Restore = st.restore
	}
	setRestoredCondition(g, gen)
	setUpgradedCondition(g, st.upgrade, o.server, gen)
	if o.server != nil || o.redis != nil || o.database != nil {
		g.Status.Images = imagesInUse(o)
		g.Status.AppVersion = ""
		if g.Status.Images != nil && g.Status.Images.Gallery != "" {
			g.Status.AppVersion = galleryv1alpha1.ImageVersion(g.Status.Images.Gallery)
		}
	}
	setBackupStatus(g, o.backupRuns, st.backupRequest)
	setBackupCondition(g, st, gen)
	setFailedComponentCondition(g, st.failure, gen)
	setReadyCondition(g, st, passSucceeded, gen)

	g.Status.URL = specs.URL(g)
	g.Status.Server = replicaStatus(o.server)
	g.Status.Workers = replicaStatus(o.workers)
	switch {
	case st.backlog != nil:
		g.Status.QueueBacklog = st.backlog
	case st.backlogErr == nil:
		g.Status.QueueBacklog = nil // not scaling on the backlog (a read error keeps the last value)
	}
	if passSucceeded && st.blocked == "" && !g.Spec.Suspend {
		g.Status.ObservedGeneration = gen
	}
	g.Status.Phase = phaseOf(g, st, passSucceeded)
}

func replicaStatus(d *appsv1.Deployment) *galleryv1alpha1.ReplicaStatus {
	if d == nil {
		return nil
	}
	want := d.Status.Replicas
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	return &galleryv1alpha1.ReplicaStatus{
		Replicas:      want,
		ReadyReplicas: d.Status.ReadyReplicas,
		Ready:         fmt.Sprintf("%d/%d", d.Status.ReadyReplicas, want),
	}
}

func set(g *galleryv1alpha1.Gallery, typ string, ok bool, reason, msg string, gen int64) {
	status := metav1.ConditionFalse
	if ok {
		status = metav1.ConditionTrue
	}
	setCondition(g, typ, status, reason, msg, gen)
}

func setCondition(g *galleryv1alpha1.Gallery, typ string, status metav1.ConditionStatus, reason, msg string, gen int64) {
	meta.SetStatusCondition(&g.Status.Conditions, metav1.Condition{Type: typ, Status: status, Reason: reason, Message: msg, ObservedGeneration: gen})
}

// removeCondition drops a condition the spec no longer calls for (BackupReady without
// spec.backup).
func removeCondition(g *galleryv1alpha1.Gallery, typ string) {
	meta.RemoveStatusCondition(&g.Status.Conditions, typ)
}

// deploymentTimedOut is the Deployment controller's reason on its Progressing condition
// once spec.progressDeadlineSeconds passed; the component's condition passes it on as
// ReasonProgressDeadlineExceeded, the same word.
const deploymentTimedOut = "ProgressDeadlineExceeded"

// deploymentReady reads a Deployment as the rollout status does: the controller saw the
// latest spec, every replica is updated, and the Deployment is Available.
func deploymentReady(d *appsv1.Deployment) (bool, string, string) {
	if d == nil {
		return false, galleryv1alpha1.ReasonNotCreated, "the Deployment does not exist yet"
	}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Reason == deploymentTimedOut {
			return false, galleryv1alpha1.ReasonProgressDeadlineExceeded, c.Message
		}
	}
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	if d.Status.ObservedGeneration < d.Generation {
		return false, galleryv1alpha1.ReasonProgressing, "waiting for the Deployment controller to see the latest spec"
	}
	if d.Status.UpdatedReplicas < want || d.Status.AvailableReplicas < want {
		return false, galleryv1alpha1.ReasonProgressing, fmt.Sprintf("%d of %d pods updated and available", min(d.Status.UpdatedReplicas, d.Status.AvailableReplicas), want)
	}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentAvailable && c.Status == corev1.ConditionTrue {
			return true, galleryv1alpha1.ReasonAvailable, fmt.Sprintf("%d pods available", d.Status.AvailableReplicas)
		}
	}
	return false, galleryv1alpha1.ReasonProgressing, "the Deployment is not Available yet"
}

func statefulSetReady(s *appsv1.StatefulSet) (bool, string, string) {
	if s == nil {
		return false, galleryv1alpha1.ReasonNotCreated, "the StatefulSet does not exist yet"
	}
	want := int32(1)
	if s.Spec.Replicas != nil {
		want = *s.Spec.Replicas
	}
	if s.Status.ObservedGeneration < s.Generation || s.Status.ReadyReplicas < want || s.Status.UpdatedReplicas < want {
		return false, galleryv1alpha1.ReasonProgressing, fmt.Sprintf("%d of %d pods ready", s.Status.ReadyReplicas, want)
	}
	return true, galleryv1alpha1.ReasonAvailable, fmt.Sprintf("%d pods ready", s.Status.ReadyReplicas)
}

// setServerCondition reports the server Deployment, and on it what limits its HPA;
// tolerance is whether the API server keeps the HPA's scale-down tolerance.
func setServerCondition(g *galleryv1alpha1.Gallery, d *appsv1.Deployment, h *autoscalingv2.HorizontalPodAutoscaler, tolerance bool, gen int64) {
	ok, reason, msg := deploymentReady(d)
	if p := g.Spec.Autoscaling; h != nil && p != nil && p.Server != nil {
		msg += specs.ScaleInUnexpressed(p.Server.CPU, p.Server.Memory, tolerance)
	}
	set(g, galleryv1alpha1.ConditionServer, ok, reason, msg+scalingLimited(h), gen)
}

// scalingLimited tells, in a condition message, that an HPA wants more (or fewer) pods
// than its range allows: the admin may want to raise maxReplicas.
func scalingLimited(h *autoscalingv2.HorizontalPodAutoscaler) string {
	if h == nil {
		return ""
	}
	for _, c := range h.Status.Conditions {
		if c.Type == autoscalingv2.ScalingLimited && c.Status == corev1.ConditionTrue {
			return fmt.Sprintf("; the autoscaler is limited (%s): %s", c.Reason, c.Message)
		}
	}
	return ""
}

func setWorkersCondition(g *galleryv1alpha1.Gallery, d *appsv1.Deployment, h *autoscalingv2.HorizontalPodAutoscaler, tolerance bool, gen int64) {
	if !g.RunsWorkers() {
		set(g, galleryv1alpha1.ConditionWorkers, true, galleryv1alpha1.ReasonNotUsed, "the embedded database classifies inside the server pod", gen)
		return
	}
	if d != nil && d.Spec.Replicas != nil && *d.Spec.Replicas == 0 {
		set(g, galleryv1alpha1.ConditionWorkers, true, galleryv1alpha1.ReasonNotUsed, "workers are scaled to zero", gen)
		return
	}
	ok, reason, msg := deploymentReady(d)
	if p := g.Spec.Autoscaling; h != nil && p != nil && p.Workers != nil {
		msg += specs.ScaleInUnexpressed(p.Workers.CPU, p.Workers.Memory, tolerance)
	}
	set(g, galleryv1alpha1.ConditionWorkers, ok, reason, msg+scalingLimited(h), gen)
}

// external reports an external dependency from the preflight result.
func external(g *galleryv1alpha1.Gallery, typ string, pf preflightResult, err error, what string, gen int64) {
	switch {
	case !pf.checked:
		set(g, typ, true, galleryv1alpha1.ReasonExternal, what+" (not checked)", gen)
	case err != nil:
		set(g, typ, false, preflight.ReasonOf(err), what+": "+err.Error(), gen)
	default:
		set(g, typ, true, galleryv1alpha1.ReasonReachable, what+" answers", gen)
	}
}

func setCacheCondition(g *galleryv1alpha1.Gallery, s *appsv1.StatefulSet, pf preflightResult, gen int64) {
	if e := g.Spec.Cache.External; e != nil {
		external(g, galleryv1alpha1.ConditionCache, pf, pf.cache, "external Redis at "+e.Address, gen)
		return
	}
	ok, reason, msg := statefulSetReady(s)
	set(g, galleryv1alpha1.ConditionCache, ok, reason, msg, gen)
}

func setDatabaseCondition(g *galleryv1alpha1.Gallery, s *appsv1.StatefulSet, sqlite *corev1.PersistentVolumeClaim, pf preflightResult, gen int64) {
	switch db := g.Spec.Database; {
	case db.External != nil:
		external(g, galleryv1alpha1.ConditionDatabase, pf, pf.database, fmt.Sprintf("external %s at %s", db.External.Engine, db.External.Host), gen)
	case db.Embedded != nil:
		ok, reason, msg := claimBound(sqlite)
		set(g, galleryv1alpha1.ConditionDatabase, ok, reason, msg, gen)
	default:
		ok, reason, msg := statefulSetReady(s)
		set(g, galleryv1alpha1.ConditionDatabase, ok, reason, msg, gen)
	}
}

func claimBound(c *corev1.PersistentVolumeClaim) (bool, string, string) {
	if c == nil {
		return false, galleryv1alpha1.ReasonNotCreated, "the PersistentVolumeClaim does not exist yet"
	}
	if c.Status.Phase != corev1.ClaimBound {
		return false, galleryv1alpha1.ReasonClaimPending, fmt.Sprintf("PersistentVolumeClaim %s is %s", c.Name, phaseOr(c.Status.Phase))
	}
	return true, galleryv1alpha1.ReasonBound, fmt.Sprintf("PersistentVolumeClaim %s is bound", c.Name)
}

func phaseOr(p corev1.PersistentVolumeClaimPhase) string {
	if p == "" {
		return "Pending"
	}
	return string(p)
}

func setStorageCondition(g *galleryv1alpha1.Gallery, photos *corev1.PersistentVolumeClaim, pf preflightResult, gen int64) {
	if s3 := g.Spec.Storage.S3; s3 != nil {
		external(g, galleryv1alpha1.ConditionStorage, pf, pf.storage, "S3 bucket "+s3.Bucket, gen)
		if c := meta.FindStatusCondition(g.Status.Conditions, galleryv1alpha1.ConditionStorage); pf.checked && pf.storage == nil && c != nil {
			c.Message += "; " + versioningNote(pf.versioning)
		}
		return
	}
	ok, reason, msg := claimBound(photos)
	set(g, galleryv1alpha1.ConditionStorage, ok, reason, msg, gen)
}

// versioningNote says what the photo bucket's versioning means for recovering photos:
// with S3 storage, backups list the photos and the bucket keeps them.
func versioningNote(status string) string {
	switch status {
	case "Enabled":
		return "versioning Enabled: deleted or overwritten photos stay recoverable"
	case "Suspended", "":
		return "versioning is off (" + orNever(status) + "): a deleted or overwritten photo cannot be recovered, as backups list S3 photos rather than copy them; see docs/backup-and-restore.md"
	default:
		return "versioning " + status
	}
}

func orNever(s string) string {
	if s == "" {
		return "never enabled"
	}
	return s
}

// setIngressCondition reports the ingress; it does not hold Ready back, since the gallery
// serves through its Service whatever the ingress controller does.
func setIngressCondition(g *galleryv1alpha1.Gallery, in *networkingv1.Ingress, gen int64) {
	switch {
	case g.Spec.Ingress == nil:
		set(g, galleryv1alpha1.ConditionIngress, true, galleryv1alpha1.ReasonNotUsed, "no ingress requested", gen)
	case in == nil:
		set(g, galleryv1alpha1.ConditionIngress, false, galleryv1alpha1.ReasonNotCreated, "the Ingress does not exist yet", gen)
	case len(in.Status.LoadBalancer.Ingress) == 0:
		set(g, galleryv1alpha1.ConditionIngress, false, galleryv1alpha1.ReasonWaitingForAddress, "waiting for the ingress controller to assign an address", gen)
	default:
		lb := in.Status.LoadBalancer.Ingress[0]
		addr := lb.Hostname
		if addr == "" {
			addr = lb.IP
		}
		set(g, galleryv1alpha1.ConditionIngress, true, galleryv1alpha1.ReasonAddressAssigned, "address "+addr, gen)
	}
}

// setMemoryCondition reports recent OOM kills. Like IngressReady it does not hold Ready
// back: the kubelet restarts the container, and a component that stays down shows in its
// own condition.
func setMemoryCondition(g *galleryv1alpha1.Gallery, kills []oomKill, gen int64) {
	if len(kills) == 0 {
		set(g, galleryv1alpha1.ConditionMemoryPressure, false, galleryv1alpha1.ReasonWithinMemoryLimits,
			"no container was OOM-killed in the last "+windowText(), gen)
		return
	}
	set(g, galleryv1alpha1.ConditionMemoryPressure, true, galleryv1alpha1.ReasonOOMKilled, oomMessage(kills), gen)
}

// maxFailureMessage bounds the error a condition carries: the API server's message for a
// child names the object, the field and the reason in far less; a webhook's may ramble.
const maxFailureMessage = 400

// failureMessage says which phase failed and why, in the API server's words (shortened
// to maxFailureMessage), for Ready and the phase's component condition.
func failureMessage(f *phaseFailure) string {
	if f == nil {
		return "the last reconciliation failed"
	}
	return "reconciling the " + f.phase + " failed: " + keepHead(f.err.Error(), maxFailureMessage)
}

// keepHead is s cut to at most n bytes at a character boundary, with "…" after it when
// anything was cut.
func keepHead(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// keepTail is the end of s within n bytes, starting at a character boundary, with "…"
// before it when anything was cut (an error's cause is its last line).
func keepTail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	start := len(s) - n
	for start < len(s) && !utf8.RuneStart(s[start]) {
		start++
	}
	return "…" + s[start:]
}

// setFailedComponentCondition puts a failed phase's error on the condition of the
// component it makes, in place of what the component's children (unchanged by the
// failed apply) say.
func setFailedComponentCondition(g *galleryv1alpha1.Gallery, f *phaseFailure, gen int64) {
	if f == nil {
		return
	}
	if t, ok := phaseConditions[f.phase]; ok {
		set(g, t, false, galleryv1alpha1.ReasonReconcileFailed, failureMessage(f), gen)
	}
}

// readyComponents are the conditions Ready requires.
var readyComponents = []string{
	galleryv1alpha1.ConditionServer, galleryv1alpha1.ConditionWorkers, galleryv1alpha1.ConditionCache,
	galleryv1alpha1.ConditionDatabase, galleryv1alpha1.ConditionStorage,
}

func setReadyCondition(g *galleryv1alpha1.Gallery, st *reconcileState, passSucceeded bool, gen int64) {
	switch {
	case g.Spec.Suspend:
		set(g, galleryv1alpha1.ConditionReady, false, galleryv1alpha1.ReasonSuspended, "reconciliation is suspended (spec.suspend)", gen)
		return
	case st.blocked != "":
		set(g, galleryv1alpha1.ConditionReady, false, galleryv1alpha1.ReasonMissingReference, st.blocked, gen)
		return
	case !passSucceeded:
		set(g, galleryv1alpha1.ConditionReady, false, galleryv1alpha1.ReasonReconcileFailed, failureMessage(st.failure), gen)
		return
	case len(st.invalidSpec) > 0:
		set(g, galleryv1alpha1.ConditionReady, false, galleryv1alpha1.ReasonInvalidSpec, strings.Join(st.invalidSpec, "; "), gen)
		return
	case g.Restoring():
		reason, msg := galleryv1alpha1.ReasonRestoreRunning, "restoring spec.restoreFrom before the server starts; see the Restored condition"
		if s := g.Status.Restore; s != nil && s.Phase == galleryv1alpha1.RestoreFailed {
			reason, msg = galleryv1alpha1.ReasonRestoreFailed, "the restore failed, so the server does not start; see the Restored condition: "+s.Message
		}
		set(g, galleryv1alpha1.ConditionReady, false, reason, msg, gen)
		return
	case g.Status.Upgrade != nil && g.Status.Upgrade.Phase == galleryv1alpha1.UpgradeFailed:
		set(g, galleryv1alpha1.ConditionReady, false, galleryv1alpha1.ReasonMigrationFailed,
			"the upgrade to "+g.Status.Upgrade.To+" stopped: its migration failed; see the Upgraded condition", gen)
		return
	}
	var notReady []string
	for _, t := range readyComponents {
		if !meta.IsStatusConditionTrue(g.Status.Conditions, t) {
			notReady = append(notReady, t)
		}
	}
	if len(notReady) > 0 {
		set(g, galleryv1alpha1.ConditionReady, false, galleryv1alpha1.ReasonComponentsNotReady, fmt.Sprintf("not ready: %v", notReady), gen)
		return
	}
	set(g, galleryv1alpha1.ConditionReady, true, galleryv1alpha1.ReasonAllComponentsReady, "every component is ready", gen)
}

func phaseOf(g *galleryv1alpha1.Gallery, st *reconcileState, passSucceeded bool) galleryv1alpha1.GalleryPhase {
	switch {
	case g.Spec.Suspend:
		return galleryv1alpha1.PhaseSuspended
	case st.blocked != "" || !passSucceeded:
		return galleryv1alpha1.PhaseFailed
	case g.Status.Restore != nil && g.Status.Restore.Phase == galleryv1alpha1.RestoreFailed && g.Spec.RestoreFrom != nil:
		return galleryv1alpha1.PhaseFailed
	case meta.IsStatusConditionTrue(g.Status.Conditions, galleryv1alpha1.ConditionReady):
		return galleryv1alpha1.PhaseReady
	}
	for _, c := range g.Status.Conditions {
		if c.Reason == galleryv1alpha1.ReasonProgressDeadlineExceeded {
			return galleryv1alpha1.PhaseDegraded
		}
	}
	return galleryv1alpha1.PhaseProgressing
}
