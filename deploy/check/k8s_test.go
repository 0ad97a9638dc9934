package check

import (
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	scyllav1 "github.com/scylladb/scylla-operator/pkg/api/scylla/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

var overlays = []string{"dev", "prod"}

// Secrets prod expects to be made out of band (its kustomization says how):
// a reference to one is not a dangling reference there.
var externalSecrets = map[string]map[string]bool{"prod": {"ringchat-cluster": true, "ringchat-s3": true}}

// newObject is the real API type of each kind the manifests may hold; any
// other kind fails the check.
func newObject(apiVersion, kind string) any {
	switch apiVersion + " " + kind {
	case "apps/v1 Deployment":
		return &appsv1.Deployment{}
	case "batch/v1 Job":
		return &batchv1.Job{}
	case "v1 Service":
		return &corev1.Service{}
	case "v1 ConfigMap":
		return &corev1.ConfigMap{}
	case "v1 Secret":
		return &corev1.Secret{}
	case "policy/v1 PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}
	case "autoscaling/v2 HorizontalPodAutoscaler":
		return &autoscalingv2.HorizontalPodAutoscaler{}
	case "networking.k8s.io/v1 NetworkPolicy":
		return &networkingv1.NetworkPolicy{}
	case "scylla.scylladb.com/v1 ScyllaCluster":
		return &scyllav1.ScyllaCluster{}
	}
	return nil
}

// built is one overlay after kustomize, every object decoded.
type built struct {
	overlay     string
	deployments map[string]*appsv1.Deployment
	jobs        map[string]*batchv1.Job
	configMaps  map[string]*corev1.ConfigMap
	secrets     map[string]*corev1.Secret
	services    []*corev1.Service
	pdbs        []*policyv1.PodDisruptionBudget
	hpas        []*autoscalingv2.HorizontalPodAutoscaler
	policies    []*networkingv1.NetworkPolicy
	scylla      []*scyllav1.ScyllaCluster
}

// buildOverlay runs kustomize (its Go API, as `kubectl apply -k` does) and
// decodes each object strictly: an unknown or misspelt field, a duplicate
// one, or a field in the wrong case fails, as do unknown kinds.
func buildOverlay(t *testing.T, overlay string) *built {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join(root, "deploy/k8s/overlays", overlay))
	if err != nil {
		t.Fatal(err)
	}
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", overlay, err)
	}
	b := &built{overlay: overlay, deployments: map[string]*appsv1.Deployment{}, jobs: map[string]*batchv1.Job{},
		configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{}}
	for _, r := range m.Resources() {
		where := fmt.Sprintf("%s: %s %s", overlay, r.GetKind(), r.GetName())
		obj := newObject(r.GetApiVersion(), r.GetKind())
		if obj == nil {
			t.Errorf("%s: kind %s %s is none this check knows the API type of", where, r.GetApiVersion(), r.GetKind())
			continue
		}
		data, err := r.MarshalJSON()
		if err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		strict, err := kjson.UnmarshalStrict(data, obj, kjson.DisallowUnknownFields)
		if err != nil {
			t.Errorf("%s: %v", where, err)
			continue
		}
		for _, e := range strict {
			t.Errorf("%s: %v", where, e)
		}
		switch o := obj.(type) {
		case *appsv1.Deployment:
			b.deployments[o.Name] = o
		case *batchv1.Job:
			b.jobs[o.Name] = o
		case *corev1.ConfigMap:
			b.configMaps[o.Name] = o
		case *corev1.Secret:
			b.secrets[o.Name] = o
		case *corev1.Service:
			b.services = append(b.services, o)
		case *policyv1.PodDisruptionBudget:
			b.pdbs = append(b.pdbs, o)
		case *autoscalingv2.HorizontalPodAutoscaler:
			b.hpas = append(b.hpas, o)
		case *networkingv1.NetworkPolicy:
			b.policies = append(b.policies, o)
		case *scyllav1.ScyllaCluster:
			b.scylla = append(b.scylla, o)
		}
	}
	return b
}

// containerEnv is what a container sees: envFrom ConfigMaps (resolved in the
// build) and its env list; references to Secrets and fields become
// placeholders. Every reference must resolve, with its key.
func (b *built) containerEnv(t *testing.T, where string, c corev1.Container) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, from := range c.EnvFrom {
		if from.ConfigMapRef == nil {
			t.Errorf("%s: envFrom other than a ConfigMap", where)
			continue
		}
		cm := b.configMaps[from.ConfigMapRef.Name]
		if cm == nil {
			t.Errorf("%s: envFrom ConfigMap %q is not in the build", where, from.ConfigMapRef.Name)
			continue
		}
		for k, v := range cm.Data {
			env[k] = v
		}
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		case e.ValueFrom.ConfigMapKeyRef != nil:
			ref := e.ValueFrom.ConfigMapKeyRef
			cm := b.configMaps[ref.Name]
			if cm == nil || cm.Data[ref.Key] == "" && !isTrue(ref.Optional) {
				t.Errorf("%s: %s from ConfigMap %s key %s, which the build lacks", where, e.Name, ref.Name, ref.Key)
				continue
			}
			env[e.Name] = cm.Data[ref.Key]
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			s := b.secrets[ref.Name]
			switch {
			case s != nil && (s.Data[ref.Key] != nil || s.StringData[ref.Key] != ""):
			case s == nil && (isTrue(ref.Optional) || externalSecrets[b.overlay][ref.Name]):
			default:
				t.Errorf("%s: %s from Secret %s key %s, which the build lacks", where, e.Name, ref.Name, ref.Key)
			}
			env[e.Name] = "placeholder-secret-0123456789abcdef"
		case e.ValueFrom.FieldRef != nil:
			env[e.Name] = "10.1.2.3"
		}
	}
	return env
}

func isTrue(b *bool) bool { return b != nil && *b }

func TestKustomizeOverlays(t *testing.T) {
	chatdSet, migrateSet := chatdSettings(t), migrateSettings(t)
	for _, overlay := range overlays {
		t.Run(overlay, func(t *testing.T) {
			b := buildOverlay(t, overlay)
			if len(b.scylla) != 1 {
				t.Fatalf("%d ScyllaClusters; want one", len(b.scylla))
			}
			sc := b.scylla[0]
			d := b.deployments["chatd"]
			if d == nil {
				t.Fatal("no Deployment chatd")
			}
			c := d.Spec.Template.Spec.Containers[0]
			where := overlay + ": Deployment chatd"
			env := b.containerEnv(t, where, c)
			checkNames(t, where, keys(env), chatdSet, "chatd")
			resolved := map[string]string{}
			for k, v := range env {
				resolved[k] = strings.ReplaceAll(v, "$(POD_IP)", env["POD_IP"])
			}
			checkValues(t, where, "chatd", resolved)
			checkChatdPod(t, where, d, c, env)
			checkRing(t, overlay, sc, env)
			checkFence(t, b, d)

			job := b.jobs["ringchat-migrate"]
			if job == nil {
				t.Fatal("no Job ringchat-migrate")
			}
			mc := job.Spec.Template.Spec.Containers[0]
			menv := b.containerEnv(t, overlay+": Job ringchat-migrate", mc)
			checkNames(t, overlay+": Job ringchat-migrate", keys(menv), migrateSet, "ringchat-migrate")
			checkValues(t, overlay+": Job ringchat-migrate", "ringchat-migrate", menv)
			if len(mc.Command) == 0 || !strings.HasSuffix(mc.Command[0], "/ringchat-migrate") || mc.Command[len(mc.Command)-1] != "up" {
				t.Errorf("Job ringchat-migrate runs %q; want ringchat-migrate up", mc.Command)
			}
			if menv["RINGCHAT_CASSANDRA_HOSTS"] != env["RINGCHAT_CASSANDRA_HOSTS"] || menv["RINGCHAT_KEYSPACE"] != env["RINGCHAT_KEYSPACE"] {
				t.Errorf("the Job migrates %s on %s; chatd uses %s on %s", menv["RINGCHAT_KEYSPACE"], menv["RINGCHAT_CASSANDRA_HOSTS"], env["RINGCHAT_KEYSPACE"], env["RINGCHAT_CASSANDRA_HOSTS"])
			}
			checkReplication(t, sc, menv["RINGCHAT_DC_RF"])
			for _, img := range []string{c.Image, mc.Image} {
				if !strings.Contains(img, ":") {
					t.Errorf("image %q has no tag (the overlay's images: entry sets it)", img)
				}
			}
		})
	}
}

// checkChatdPod: probes on the admin port, container ports the listeners'
// ports, the advertised address the pod IP, and a grace period covering the
// preStop pause plus chatd's shutdown timeout.
func checkChatdPod(t *testing.T, where string, d *appsv1.Deployment, c corev1.Container, env map[string]string) {
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	for name, variable := range map[string]string{"http": "RINGCHAT_LISTEN", "admin": "RINGCHAT_ADMIN_LISTEN", "internal": "RINGCHAT_INTERNAL_LISTEN"} {
		host, port, err := net.SplitHostPort(env[variable])
		if err != nil || strconv.Itoa(int(ports[name])) != port || net.ParseIP(host) == nil || net.ParseIP(host).IsLoopback() {
			t.Errorf("%s: %s=%q and container port %s=%d: want one port, on every interface", where, variable, env[variable], name, ports[name])
		}
	}
	probe := func(kind string, p *corev1.Probe, path string) {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != path || p.HTTPGet.Port.String() != "admin" {
			t.Errorf("%s: %s probe should GET %s on the admin port", where, kind, path)
		}
	}
	probe("readiness", c.ReadinessProbe, "/readyz")
	probe("liveness", c.LivenessProbe, "/healthz")
	if ip := envVar(c, "POD_IP"); ip == nil || ip.ValueFrom == nil || ip.ValueFrom.FieldRef == nil || ip.ValueFrom.FieldRef.FieldPath != "status.podIP" {
		t.Errorf("%s: POD_IP must come from the downward API (status.podIP)", where)
	}
	if want := "$(POD_IP):" + strconv.Itoa(int(ports["internal"])); env["RINGCHAT_ADVERTISE_ADDR"] != want {
		t.Errorf("%s: RINGCHAT_ADVERTISE_ADDR=%q; want %q", where, env["RINGCHAT_ADVERTISE_ADDR"], want)
	}
	shutdown := 15 * time.Second
	if v := env["RINGCHAT_SHUTDOWN_TIMEOUT"]; v != "" {
		var err error
		if shutdown, err = time.ParseDuration(v); err != nil {
			t.Fatal(err)
		}
	}
	var pause time.Duration
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil {
		t.Errorf("%s: no preStop pause: the pod would stop before load balancers drop it", where)
	} else {
		pause = time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
	}
	grace := time.Duration(-1)
	if g := d.Spec.Template.Spec.TerminationGracePeriodSeconds; g != nil {
		grace = time.Duration(*g) * time.Second
	}
	if grace <= pause+shutdown {
		t.Errorf("%s: terminationGracePeriodSeconds %v (-1s: unset) must exceed the preStop pause (%s) plus the shutdown timeout (%s), or the kubelet kills chatd before its sockets close with 1012", where, grace, pause, shutdown)
	}
}

func envVar(c corev1.Container, name string) *corev1.EnvVar {
	for i := range c.Env {
		if c.Env[i].Name == name {
			return &c.Env[i]
		}
	}
	return nil
}

// checkRing: chatd's contact point is the operator's client Service of this
// ScyllaCluster, and its local DC the cluster's datacenter.
func checkRing(t *testing.T, overlay string, sc *scyllav1.ScyllaCluster, env map[string]string) {
	if want := sc.Name + "-client"; env["RINGCHAT_CASSANDRA_HOSTS"] != want {
		t.Errorf("%s: RINGCHAT_CASSANDRA_HOSTS=%q; the operator's client Service is %q", overlay, env["RINGCHAT_CASSANDRA_HOSTS"], want)
	}
	if env["RINGCHAT_LOCAL_DC"] != sc.Spec.Datacenter.Name {
		t.Errorf("%s: RINGCHAT_LOCAL_DC=%q; the ScyllaCluster's datacenter is %q", overlay, env["RINGCHAT_LOCAL_DC"], sc.Spec.Datacenter.Name)
	}
	if sc.Spec.Version == "" || sc.Spec.AgentVersion == "" {
		t.Errorf("%s: ScyllaCluster without version or agentVersion", overlay)
	}
}

// checkReplication: the keyspace's replicas live in the ScyllaCluster's
// datacenter, three of them (RF 3), one per rack.
func checkReplication(t *testing.T, sc *scyllav1.ScyllaCluster, dcRF string) {
	dc, factor, _ := strings.Cut(dcRF, ":")
	rf, err := strconv.Atoi(factor)
	if err != nil || dc != sc.Spec.Datacenter.Name || rf != 3 || strings.Contains(factor, ",") {
		t.Errorf("RINGCHAT_DC_RF=%q; want %s:3", dcRF, sc.Spec.Datacenter.Name)
	}
	if n := len(sc.Spec.Datacenter.Racks); n < rf {
		t.Errorf("ScyllaCluster has %d racks; RF %d wants a replica in each of %d", n, rf, rf)
	}
	for _, r := range sc.Spec.Datacenter.Racks {
		if r.Members < 1 || r.ScyllaConfig == "" {
			t.Errorf("rack %s: %d members, scyllaConfig %q", r.Name, r.Members, r.ScyllaConfig)
		}
	}
}

// checkFence: the Service, PDB, HPA and NetworkPolicy all select chatd's
// pods, and the policy admits the admin and internal ports from this
// namespace's pods only.
func checkFence(t *testing.T, b *built, d *appsv1.Deployment) {
	labels := d.Spec.Template.Labels
	selects := func(sel map[string]string) bool {
		if len(sel) == 0 {
			return false
		}
		for k, v := range sel {
			if labels[k] != v {
				return false
			}
		}
		return true
	}
	var svc, pdb, hpa, pol int
	for _, s := range b.services {
		if selects(s.Spec.Selector) {
			svc++
			for _, p := range s.Spec.Ports {
				if p.TargetPort.String() != "http" {
					t.Errorf("Service %s exposes %s: only the public port belongs in it", s.Name, p.TargetPort.String())
				}
			}
		}
	}
	for _, p := range b.pdbs {
		if p.Spec.Selector != nil && selects(p.Spec.Selector.MatchLabels) {
			pdb++
		}
	}
	for _, h := range b.hpas {
		if h.Spec.ScaleTargetRef.Kind == "Deployment" && h.Spec.ScaleTargetRef.Name == d.Name {
			hpa++
		}
	}
	for _, np := range b.policies {
		if !selects(np.Spec.PodSelector.MatchLabels) {
			continue
		}
		pol++
		for _, rule := range np.Spec.Ingress {
			for _, p := range rule.Ports {
				if p.Port == nil {
					t.Errorf("NetworkPolicy %s: a rule without ports opens every port", np.Name)
					continue
				}
				port := p.Port.String()
				if port != "admin" && port != "internal" {
					continue
				}
				if len(rule.From) == 0 {
					t.Errorf("NetworkPolicy %s: port %s open to every source", np.Name, port)
				}
				for _, from := range rule.From {
					if from.PodSelector == nil || from.NamespaceSelector != nil || from.IPBlock != nil {
						t.Errorf("NetworkPolicy %s: port %s admits sources outside the namespace", np.Name, port)
					}
				}
			}
		}
	}
	for what, n := range map[string]int{"Service": svc, "PodDisruptionBudget": pdb, "HorizontalPodAutoscaler": hpa, "NetworkPolicy": pol} {
		if n != 1 {
			t.Errorf("%s: %d %ss select chatd; want one", b.overlay, n, what)
		}
	}
}
