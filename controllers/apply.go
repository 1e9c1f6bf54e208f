package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
)

// FieldOwner is the one field manager the operator applies every child with.
const FieldOwner = "sortographer-operator"

// annotationAppliedHash records the hash of what the operator last applied to a child, so
// that a steady state sends nothing at all to the API server.
const annotationAppliedHash = "sortographer.io/applied-hash"

// applier writes children with server-side apply, and only when they differ from what
// the operator wants. It counts the writes that fail, by kind, in metrics.
type applier struct {
	client  client.Client
	scheme  *runtime.Scheme
	metrics *galleryMetrics
	// apiReader reads from the API server what the cache strips (managedFields) or may
	// not have seen yet (a child the cache says must be written); nil means client.
	apiReader client.Reader
	// checks remember what was checked of a child against the API server where the
	// cache cannot tell (childChecks): a slim child's generation found up to date, a
	// Deployment's replicas found released; nil remembers nothing.
	checks *childChecks
}

// The two checks the applier remembers of a child (childChecks).
const (
	checkUpToDate = "up-to-date" // a slim child's version was up to date with an applied hash
	checkReleased = "released"   // a Deployment's replicas were released at a generation
)

// upToDateCheck names the up-to-date check of u's child (childChecks).
func upToDateCheck(u *unstructured.Unstructured) fingerprint {
	return fingerprintOf(checkUpToDate, u.GetKind(), u.GetName())
}

// upToDateSeen is the fingerprint of a cached child's version — its UID, its generation,
// and the fingerprint of what its cached copy drops (droppedFingerprint) — up to date
// with an applied hash.
func upToDateSeen(uid types.UID, generation int64, dropped, hash string) fingerprint {
	return fingerprintOf(string(uid), strconv.FormatInt(generation, 10), dropped, hash)
}

// remember records live, just read or written, as up to date with u's applied hash.
func (a *applier) remember(g *galleryv1alpha1.Gallery, u, live *unstructured.Unstructured) {
	if a.checks == nil || live.GetUID() == "" {
		return
	}
	obj, ok := a.cachedObject(u)
	if !ok {
		return
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(live.Object, obj); err != nil {
		return
	}
	seen := upToDateSeen(live.GetUID(), live.GetGeneration(), droppedFingerprint(obj), u.GetAnnotations()[annotationAppliedHash])
	a.checks.record(client.ObjectKeyFromObject(g), upToDateCheck(u), seen)
}

// applyResult says what apply did.
type applyResult int

const (
	unchanged applyResult = iota
	created
	updated
)

// apply makes the child match desired: owned by the Gallery, under one field owner.
// It writes nothing when the live object already carries the same applied hash and
// every field the operator sets still has its value (someone else's fields, such as
// kubectl's restartedAt or an HPA's replica count, are theirs).
func (a *applier) apply(ctx context.Context, g *galleryv1alpha1.Gallery, desired client.Object) (applyResult, error) {
	if err := controllerutil.SetControllerReference(g, desired, a.scheme); err != nil {
		return unchanged, fmt.Errorf("own %T %s: %w", desired, desired.GetName(), err)
	}
	return a.applyUnowned(ctx, g, desired)
}

// applyUnowned is apply without an owner reference, for what must outlive the Gallery.
func (a *applier) applyUnowned(ctx context.Context, g *galleryv1alpha1.Gallery, desired client.Object) (applyResult, error) {
	u, err := toApplyUnstructured(desired)
	if err != nil {
		return unchanged, err
	}
	a.metrics.applying(g, u.GetKind())
	res, err := a.write(ctx, g, u)
	if err != nil {
		a.metrics.applyFailed(g, u.GetKind())
	}
	return res, err
}

// write applies u unless the live object already matches it.
//
// The live object is read from the manager's cache when the cache holds its kind
// (cachedChildKinds), so a pass over an unchanged Gallery asks the API server nothing
// about its children. The cache only ever decides that nothing needs writing: when it
// says a write is due (the child is missing, or carries another hash), the API server is
// asked, because the cache may not have seen the operator's own last write yet (a pass
// that follows the one that created or changed the child), and a second apply or a
// second "created" event would follow. A pass over an unchanged Gallery went from 25
// reads to 2, its Secrets (TestPassOverUnchangedGalleryReadsOnlySecrets; docs/operator.md,
// Scale).
func (a *applier) write(ctx context.Context, g *galleryv1alpha1.Gallery, u *unstructured.Unstructured) (applyResult, error) {
	stampAppliedHash(u)
	if a.cachedUpToDate(ctx, g, u) {
		return unchanged, nil
	}
	live := &unstructured.Unstructured{}
	live.SetGroupVersionKind(u.GroupVersionKind())
	err := a.reader().Get(ctx, client.ObjectKeyFromObject(u), live)
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return unchanged, fmt.Errorf("get %s %s: %w", u.GetKind(), u.GetName(), err)
	case upToDate(u, live):
		a.remember(g, u, live)
		return unchanged, nil
	}
	if err := a.client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(FieldOwner), client.ForceOwnership); err != nil {
		return unchanged, fmt.Errorf("apply %s %s: %w", u.GetKind(), u.GetName(), err)
	}
	a.remember(g, u, u) // u holds the server's answer now, with what was applied
	if apierrors.IsNotFound(err) {
		return created, nil
	}
	return updated, nil
}

// cachedUpToDate reports whether the cache holds u's child already up to date (see
// upToDate). false means only that the cache cannot tell: the kind is not cached, the
// child is not in the cache, or it differs.
//
// The cache keeps a child's metadata but neither its spec nor its annotations (a slim
// copy, CacheOptions): the spec and annotations are as they were when this generation
// and this fingerprint of what the copy dropped were last found up to date with u's
// applied hash through the API server (remember), and the labels and owners the
// operator sets are compared here.
func (a *applier) cachedUpToDate(ctx context.Context, g *galleryv1alpha1.Gallery, u *unstructured.Unstructured) bool {
	obj, ok := a.cachedObject(u)
	if !ok || a.checks == nil {
		return false
	}
	if err := a.client.Get(ctx, client.ObjectKeyFromObject(u), obj); err != nil {
		return false
	}
	seen := upToDateSeen(obj.GetUID(), obj.GetGeneration(), cachedFingerprint(obj), u.GetAnnotations()[annotationAppliedHash])
	if !a.checks.found(client.ObjectKeyFromObject(g), upToDateCheck(u), seen) {
		return false // the common case of a change: no conversion needed to see it
	}
	want, ok := u.Object["metadata"].(map[string]any)
	if !ok {
		return false
	}
	want = maps.Clone(want)
	delete(want, "annotations") // in the fingerprint
	live, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return false
	}
	return isSubset(want, live["metadata"])
}

// cachedObject is an empty typed object of u's kind when the manager caches that kind.
// An unstructured read would bypass the cache (controller-runtime's client reads
// unstructured objects from the API server), so the cache is read through the Go type.
func (a *applier) cachedObject(u *unstructured.Unstructured) (client.Object, bool) {
	typed, err := a.scheme.New(u.GroupVersionKind())
	if err != nil {
		return nil, false
	}
	obj, ok := typed.(client.Object)
	if !ok || !cachedKind(obj) {
		return nil, false
	}
	return obj, true
}

// cachedKind reports whether obj's Go type is one of cachedChildKinds.
func cachedKind(obj client.Object) bool {
	t := reflect.TypeOf(obj)
	for _, k := range cachedChildKinds {
		if reflect.TypeOf(k) == t {
			return true
		}
	}
	return false
}

// stampAppliedHash records in u's annotations the hash of everything else u sets.
func stampAppliedHash(u *unstructured.Unstructured) {
	hash := hashOf(u.Object)
	ann := u.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	ann[annotationAppliedHash] = hash
	u.SetAnnotations(ann)
}

// upToDate reports whether live needs no apply of desired (stamped by stampAppliedHash):
// it carries the same applied hash, so the operator wants nothing new, and every field
// the operator sets still has its value, so nobody changed one of them since. Fields
// only others set (kubectl's restartedAt, an HPA's replica count) are not compared.
func upToDate(desired, live *unstructured.Unstructured) bool {
	hash := desired.GetAnnotations()[annotationAppliedHash]
	return hash != "" && live.GetAnnotations()[annotationAppliedHash] == hash && isSubset(desired.Object, live.Object)
}

// toApplyUnstructured turns a typed object from a builder into the apply configuration:
// only the fields the builder set (no creationTimestamp: null, no empty status).
func toApplyUnstructured(obj client.Object) (*unstructured.Unstructured, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, fmt.Errorf("convert %T: %w", obj, err)
	}
	delete(m, "status")
	pruneEmpty(m)
	u := &unstructured.Unstructured{Object: m}
	if u.GetAPIVersion() == "" || u.GetKind() == "" {
		return nil, fmt.Errorf("%T %s has no apiVersion/kind: builders must set TypeMeta", obj, obj.GetName())
	}
	return u, nil
}

// pruneEmpty drops nil values (creationTimestamp: null and the like), which typed
// structs produce for fields a builder never set. Empty maps stay: emptyDir: {} means
// something.
func pruneEmpty(m map[string]any) {
	for k, v := range m {
		switch t := v.(type) {
		case nil:
			delete(m, k)
		case map[string]any:
			pruneEmpty(t)
		case []any:
			for _, e := range t {
				if em, ok := e.(map[string]any); ok {
					pruneEmpty(em)
				}
			}
		}
	}
}

// isSubset reports whether every value in want is in have: maps by key, lists element by
// element with the same length (a removed list element is a change), scalars equal.
func isSubset(want, have any) bool {
	switch w := want.(type) {
	case map[string]any:
		h, ok := have.(map[string]any)
		if !ok {
			return false
		}
		for k, wv := range w {
			if !isSubset(wv, h[k]) {
				return false
			}
		}
		return true
	case []any:
		h, ok := have.([]any)
		if !ok || len(h) != len(w) {
			return false
		}
		for i := range w {
			if !isSubset(w[i], h[i]) {
				return false
			}
		}
		return true
	default:
		return reflect.DeepEqual(normalizeNumber(want), normalizeNumber(have))
	}
}

func normalizeNumber(v any) any {
	switch n := v.(type) {
	case int:
		return int64(n)
	case int32:
		return int64(n)
	case float64:
		if n == float64(int64(n)) {
			return int64(n)
		}
	}
	return v
}

func hashOf(v any) string {
	b, _ := json.Marshal(v) // maps marshal with sorted keys: stable
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// deleteIfPresent removes a child the Gallery no longer wants (an HPA after autoscaling
// is turned off, the Ingress after spec.ingress is removed), if the Gallery owns it.
func (a *applier) deleteIfPresent(ctx context.Context, g *galleryv1alpha1.Gallery, obj client.Object) (bool, error) {
	deleted, err := a.deleteOwned(ctx, g, obj)
	if err != nil {
		a.metrics.applyFailed(g, a.kindOf(obj))
	}
	return deleted, err
}

// kindOf is the kind of a typed or unstructured object.
func (a *applier) kindOf(obj client.Object) string {
	gvk, err := apiutil.GVKForObject(obj, a.scheme)
	if err != nil {
		return fmt.Sprintf("%T", obj)
	}
	return gvk.Kind
}

func (a *applier) deleteOwned(ctx context.Context, g *galleryv1alpha1.Gallery, obj client.Object) (bool, error) {
	if err := a.client.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
		return false, client.IgnoreNotFound(err)
	}
	if !metav1IsControlledBy(obj, g) {
		return false, nil
	}
	if err := a.client.Delete(ctx, obj, client.PropagationPolicy("Background")); err != nil {
		return false, client.IgnoreNotFound(err)
	}
	return true, nil
}

func metav1IsControlledBy(obj client.Object, g *galleryv1alpha1.Gallery) bool {
	for _, r := range obj.GetOwnerReferences() {
		if r.Controller != nil && *r.Controller && r.UID == g.UID {
			return true
		}
	}
	return false
}

// replicasHandoffOwner takes spec.replicas over from the operator when an autoscaler
// starts owning a Deployment's count.
const replicasHandoffOwner = "sortographer-operator-replicas-handoff"

// releaseReplicas prepares a Deployment whose replica count an autoscaler is about to
// own. Under server-side apply, leaving out a field one owns removes it, and the API
// server would then default spec.replicas to 1: a Deployment of 4 pods would drop to
// one until the HPA reacts. So the current count is first applied by a second field
// manager; the operator's next apply (without replicas) then leaves it in place, and the
// HPA's scale updates take over from there.
func (a *applier) releaseReplicas(ctx context.Context, g *galleryv1alpha1.Gallery, name string) error {
	namespace := g.Namespace
	// The cache holds no managedFields (CacheOptions), so who owns spec.replicas is read
	// from the API server, and only once per generation of the Deployment: the operator's
	// apply of an autoscaled Deployment never sets replicas, so once released it stays so
	// until the spec changes.
	var cached appsv1.Deployment
	if err := a.client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &cached); err != nil {
		return client.IgnoreNotFound(err)
	}
	check := fingerprintOf(checkReleased, "Deployment", name)
	seen := fingerprintOf(string(cached.UID), strconv.FormatInt(cached.Generation, 10))
	if a.checks != nil && a.checks.found(client.ObjectKeyFromObject(g), check, seen) {
		return nil
	}
	var live appsv1.Deployment
	if err := a.reader().Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &live); err != nil {
		return client.IgnoreNotFound(err)
	}
	if live.Spec.Replicas == nil || !ownsField(live.ManagedFields, FieldOwner, "f:replicas") {
		if a.checks != nil && live.Generation == cached.Generation {
			a.checks.record(client.ObjectKeyFromObject(g), check, seen)
		}
		return nil
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": name, "namespace": namespace},
		"spec":     map[string]any{"replicas": int64(*live.Spec.Replicas)},
	}}
	if err := a.client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(replicasHandoffOwner), client.ForceOwnership); err != nil {
		return fmt.Errorf("hand over replicas of deployment %s: %w", name, err)
	}
	return nil
}

// reader reads what the cache cannot answer: the API server itself.
func (a *applier) reader() client.Reader {
	if a.apiReader == nil {
		return a.client
	}
	return a.apiReader
}

// ownsField reports whether manager owns a spec field (by its fieldsV1 key).
func ownsField(fields []metav1.ManagedFieldsEntry, manager, key string) bool {
	for _, mf := range fields {
		if mf.Manager == manager && mf.Operation == metav1.ManagedFieldsOperationApply && mf.FieldsV1 != nil &&
			strings.Contains(mf.FieldsV1.GetRawString(), `"`+key+`"`) {
			return true
		}
	}
	return false
}
