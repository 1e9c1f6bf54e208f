package specs

import (
	"fmt"
	"strconv"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
	"github.com/sortographer/sortographer/internal/config"
)

// WorkerScaler says who owns the workers' replica count. Exactly one of them does.
type WorkerScaler int

const (
	// ScaleWorkersFixed: spec.workers.replicas, set by the operator.
	ScaleWorkersFixed WorkerScaler = iota
	// ScaleWorkersHPA: an HPA on CPU and/or memory owns the count.
	ScaleWorkersHPA
	// ScaleWorkersKEDA: a KEDA ScaledObject (queue backlog, plus CPU/memory if set) owns it;
	// KEDA makes the HPA.
	ScaleWorkersKEDA
	// ScaleWorkersHPAWithBacklog: an HPA on CPU/memory owns the count; without KEDA the
	// operator's backlog scaler raises the HPA's minimum to what the backlog needs.
	ScaleWorkersHPAWithBacklog
	// ScaleWorkersBacklog: no CPU/memory target and no KEDA: the operator's backlog scaler
	// sets the Deployment's replicas itself.
	ScaleWorkersBacklog
)

func (s WorkerScaler) String() string {
	return [...]string{"fixed", "hpa", "keda", "hpa+backlog", "backlog"}[s]
}

// WorkerScalerFor picks the owner of the workers' replica count. kedaInstalled is
// whether KEDA's CRDs exist (detected at start-up).
func WorkerScalerFor(g *galleryv1alpha1.Gallery, kedaInstalled bool) WorkerScaler {
	if !g.WorkersAutoscaled() {
		return ScaleWorkersFixed
	}
	p := g.Spec.Autoscaling.Workers
	resource := p.CPU != nil || p.Memory != nil
	switch {
	case p.Backlog == nil:
		return ScaleWorkersHPA
	case kedaInstalled:
		return ScaleWorkersKEDA
	case resource:
		return ScaleWorkersHPAWithBacklog
	default:
		return ScaleWorkersBacklog
	}
}

// BacklogReplicas is how many workers a backlog needs: ceil(backlog / target), within
// [lowest, highest].
func BacklogReplicas(backlog int64, target, lowest, highest int32) int32 {
	if target < 1 {
		target = 1
	}
	n := (backlog + int64(target) - 1) / int64(target)
	return int32(max(int64(lowest), min(n, int64(highest))))
}

// KEDA kinds.
var (
	ScaledObjectGVK          = schema.GroupVersionKind{Group: "keda.sh", Version: "v1alpha1", Kind: "ScaledObject"}
	TriggerAuthenticationGVK = schema.GroupVersionKind{Group: "keda.sh", Version: "v1alpha1", Kind: "TriggerAuthentication"}
)

// ScaledObject scales the workers on the queue's lag (jobs not yet handed to a worker)
// with one KEDA redis-streams trigger per job stream (uploads, then reclassification),
// plus CPU and memory triggers when the spec sets them. minFloor is the schedules'
// minimum. Nil unless the scaler is ScaleWorkersKEDA.
func ScaledObject(g *galleryv1alpha1.Gallery, scaler WorkerScaler, minFloor int32) *unstructured.Unstructured {
	if scaler != ScaleWorkersKEDA {
		return nil
	}
	p := g.Spec.Autoscaling.Workers
	meta := ObjectMeta(g, g.WorkersName(), galleryv1alpha1.ComponentWorkers)
	addr := fmt.Sprintf("%s.%s.svc:%d", g.RedisName(), g.Namespace, galleryv1alpha1.RedisPort)
	tls := "false"
	db := "0"
	username := ""
	if e := g.Spec.Cache.External; e != nil {
		addr, username = e.Address, e.Username
		db = strconv.Itoa(int(e.DB))
		if e.TLS != nil && e.TLS.Enabled {
			tls = "true"
		}
	}
	// One redis-streams trigger per job stream: uploads, and low-priority
	// reclassification (read only when no upload waits, but a "reclassify all" of
	// 100,000 images must scale the workers out all the same). KEDA hands the HPA one
	// external metric per trigger and the HPA takes the LARGEST replica count of its
	// metrics, so workers = max(ceil(upload lag / lagCount), ceil(low lag / lagCount),
	// cpu, memory), not the sum the operator's own backlog scaler uses; either stream
	// alone scales out, and the same lagCount keeps the two comparable. KEDA's lag mode
	// reads the group's lag only (not its pending entries), and reports an error while
	// the stream or group does not exist yet; the workers create both groups on their
	// first poll with nothing waiting.
	triggers := []any{
		redisStreamTrigger(g, config.QueueStream(g.Name), addr, db, tls, username),
		redisStreamTrigger(g, config.QueueLowStream(g.Name), addr, db, tls, username),
	}
	for name, t := range map[string]*galleryv1alpha1.UtilizationTarget{"cpu": p.CPU, "memory": p.Memory} {
		if t != nil {
			triggers = append(triggers, map[string]any{
				"type": name, "metricType": "Utilization",
				"metadata": map[string]any{"value": strconv.Itoa(int(t.TargetUtilization))},
			})
		}
	}
	sortTriggers(triggers)
	lowest := max(p.MinReplicas, min(minFloor, p.MaxReplicas))
	u := &unstructured.Unstructured{Object: map[string]any{
		"spec": map[string]any{
			"scaleTargetRef":  map[string]any{"name": g.WorkersName()},
			"minReplicaCount": int64(lowest),
			"maxReplicaCount": int64(p.MaxReplicas),
			"advanced": map[string]any{
				"horizontalPodAutoscalerConfig": map[string]any{
					"name": g.WorkersName(),
					"behavior": map[string]any{
						"scaleDown": map[string]any{"stabilizationWindowSeconds": int64(p.ScaleDownStabilizationSeconds)},
					},
				},
			},
			"triggers": triggers,
		},
	}}
	u.SetGroupVersionKind(ScaledObjectGVK)
	u.SetName(meta.Name)
	u.SetNamespace(meta.Namespace)
	u.SetLabels(meta.Labels)
	return u
}

// redisStreamTrigger is KEDA's redis-streams trigger on one of the Gallery's job
// streams: the workers' group's lag, lagCount (targetJobsPerWorker) jobs per worker.
func redisStreamTrigger(g *galleryv1alpha1.Gallery, stream, addr, db, tls, username string) map[string]any {
	metadata := map[string]any{
		"address":       addr,
		"stream":        stream,
		"consumerGroup": config.QueueGroup,
		"lagCount":      strconv.Itoa(int(g.Spec.Autoscaling.Workers.Backlog.TargetJobsPerWorker)),
		"databaseIndex": db,
		"enableTLS":     tls,
	}
	if username != "" {
		metadata["username"] = username
	}
	trigger := map[string]any{"type": "redis-streams", "metadata": metadata}
	if hasRedisPassword(g) {
		trigger["authenticationRef"] = map[string]any{"name": g.WorkersName()}
	}
	return trigger
}

// TriggerAuthentication hands KEDA the Redis password from its Secret. Nil unless the
// scaler is ScaleWorkersKEDA and Redis has a password.
func TriggerAuthentication(g *galleryv1alpha1.Gallery, scaler WorkerScaler) *unstructured.Unstructured {
	if scaler != ScaleWorkersKEDA || !hasRedisPassword(g) {
		return nil
	}
	var ref SecretRef
	for _, r := range SecretEnv(g) {
		if r.Env == config.EnvRedisPassword {
			ref = r
		}
	}
	meta := ObjectMeta(g, g.WorkersName(), galleryv1alpha1.ComponentWorkers)
	u := &unstructured.Unstructured{Object: map[string]any{
		"spec": map[string]any{
			"secretTargetRef": []any{map[string]any{"parameter": "password", "name": ref.Secret, "key": ref.Key}},
		},
	}}
	u.SetGroupVersionKind(TriggerAuthenticationGVK)
	u.SetName(meta.Name)
	u.SetNamespace(meta.Namespace)
	u.SetLabels(meta.Labels)
	return u
}

func hasRedisPassword(g *galleryv1alpha1.Gallery) bool {
	return g.Spec.Cache.Managed != nil || (g.Spec.Cache.External != nil && g.Spec.Cache.External.PasswordSecretRef != nil)
}

// sortTriggers keeps the trigger list in a stable order (the map above is not), so the
// applied object does not change from pass to pass. The sort is stable: the upload
// stream's trigger stays ahead of the low stream's.
func sortTriggers(t []any) {
	rank := map[string]int{"redis-streams": 0, "cpu": 1, "memory": 2}
	for i := 1; i < len(t); i++ {
		for j := i; j > 0 && rank[t[j].(map[string]any)["type"].(string)] < rank[t[j-1].(map[string]any)["type"].(string)]; j-- {
			t[j], t[j-1] = t[j-1], t[j]
		}
	}
}
