package deploytest

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDeploy runs every check on the repository's artifacts (all must
// hold), then on broken copies of them (the named check must object).
func TestDeploy(t *testing.T) {
	files, err := readFiles()
	if err != nil {
		t.Fatal(err)
	}
	b, err := parse(files)
	if err != nil {
		t.Fatal(err)
	}
	f := &facts{client: newClient()}
	f.flags, f.env = serveFacts(t)
	f.up, f.down = startServer(t, false), startServer(t, true)

	for _, c := range checks {
		t.Run("holds/"+c.name, func(t *testing.T) {
			for _, p := range c.run(b, f) {
				t.Error(p)
			}
		})
	}
	for _, m := range mutations {
		t.Run("can-fail/"+m.check+"/"+m.name, func(t *testing.T) {
			broken := map[string]string{}
			for k, v := range files {
				broken[k] = v
			}
			if !strings.Contains(broken[m.file], m.old) {
				t.Fatalf("%s does not contain %q: update this mutation", m.file, m.old)
			}
			broken[m.file] = strings.Replace(broken[m.file], m.old, m.new, 1)
			bb, err := parse(broken)
			if err != nil {
				t.Fatalf("the broken copy does not parse (the mutation should break a check, not YAML): %v", err)
			}
			run := checkNamed(t, m.check)
			probs := run(bb, f)
			if len(probs) == 0 {
				t.Fatalf("check %s found nothing wrong after %s: %q → %q", m.check, m.file, m.old, m.new)
			}
			t.Logf("%s objects: %s", m.check, probs[0])
		})
	}
}

func checkNamed(t *testing.T, name string) func(*bundle, *facts) []string {
	for _, c := range checks {
		if c.name == name {
			return c.run
		}
	}
	t.Fatalf("no check %q", name)
	return nil
}

// mutation breaks one artifact in one way that the named check must catch.
type mutation struct {
	check, name, file, old, new string
}

const (
	api    = manifestDir + "/api.yaml"
	worker = manifestDir + "/worker.yaml"
	kust   = manifestDir + "/kustomization.yaml"
)

var mutations = []mutation{
	{"dockerfile", "expose-other-port", dockerfile, "EXPOSE 8080", "EXPOSE 9090"},
	{"dockerfile", "root-user", dockerfile, "USER 65532:65532", "USER 0"},
	{"dockerfile", "volume-not-data-dir", dockerfile, "VOLUME /data", "VOLUME /var/data"},
	{"dockerfile", "cgo-build", dockerfile, "CGO_ENABLED=0 go build", "CGO_ENABLED=1 go build"},
	{"dockerfile", "cmd-unknown-flag", dockerfile, `"--data-dir", "/data"]`, `"--datadir", "/data"]`},
	{"dockerfile", "dynamic-base", dockerfile, "FROM gcr.io/distroless/static-debian12:nonroot", "FROM debian:12-slim"},
	{"kustomization", "secret-applied", kust, "  - worker.yaml\n", "  - worker.yaml\n  - secret.example.yaml\n"},
	{"kustomization", "file-not-listed", kust, "  - worker.yaml\n", ""},
	{"kustomization", "wrong-namespace", api, "  name: syndicate-api\n  namespace: syndicate\n", "  name: syndicate-api\n  namespace: default\n"},
	{"serve-args", "unknown-flag", api, `"--role", "api"`, `"--rol", "api"`},
	{"serve-args", "bad-bool-value", api, `"--data-dir", "/data"]`, `"--data-dir", "/data", "--allow-private-destinations=maybe"]`},
	{"serve-args", "positional-argument", worker, `["serve", "--role"`, `["serve", "now", "--role"`},
	{"serve-args", "unread-env", api, "- name: SYNDICATE_TOKEN", "- name: SYNDICATE_API_TOKEN"},
	{"serve-args", "role-not-label", worker, `"--role", "worker"`, `"--role", "api"`},
	{"ports", "container-port", api, "containerPort: 8080", "containerPort: 8081"},
	{"ports", "addr-port", worker, `"0.0.0.0:8080"`, `"0.0.0.0:9000"`},
	{"ports", "probe-port", api, "path: /readyz\n              port: http", "path: /readyz\n              port: 9000"},
	{"ports", "service-target", api, "port: 80\n      targetPort: http", "port: 80\n      targetPort: 8000"},
	{"probes", "unserved-path", api, "path: /readyz", "path: /ready"},
	{"probes", "liveness-on-database", worker, "livenessProbe:\n            httpGet:\n              path: /healthz", "livenessProbe:\n            httpGet:\n              path: /readyz"},
	{"probes", "readiness-ignores-database", api, "readinessProbe:\n            # Answers 503 while the database is unreachable.\n            httpGet:\n              path: /readyz", "readinessProbe:\n            httpGet:\n              path: /healthz"},
	{"probes", "no-readiness", worker, "readinessProbe:", "readinessProbe_:"},
	{"image", "other-image", worker, "image: ghcr.io/syndicate-media/syndicate:latest", "image: ghcr.io/someone/syndicate:latest"},
	{"image", "doc-drift", deployDoc, "Image: `ghcr.io/syndicate-media/syndicate`", "Image: `docker.io/syndicate/syndicate`"},
	{"executor-id", "from-uid", worker, "fieldPath: metadata.name", "fieldPath: metadata.uid"},
	{"executor-id", "fixed-flag", worker, `"--role", "worker"`, `"--role", "worker", "--executor-id", "w"`},
	{"executor-id", "shared-literal", api, "- name: SYNDICATE_EXECUTOR_ID\n              valueFrom:\n                fieldRef:\n                  fieldPath: metadata.name", "- name: SYNDICATE_EXECUTOR_ID\n              value: api"},
	{"non-root", "run-as-root", worker, "runAsNonRoot: true", "runAsNonRoot: false"},
	{"non-root", "uid-0", api, "runAsUser: 65532", "runAsUser: 0"},
	{"non-root", "writable-root", worker, "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false"},
	{"non-root", "no-data-volume", api, "mountPath: /data", "mountPath: /srv/data"},
	{"selectors", "pdb-selects-nothing", worker, "maxUnavailable: 1\n  selector:\n    matchLabels:\n      app.kubernetes.io/name: syndicate\n      app.kubernetes.io/component: worker", "maxUnavailable: 1\n  selector:\n    matchLabels:\n      app.kubernetes.io/name: syndicate\n      app.kubernetes.io/component: workers"},
	{"selectors", "pdb-selects-all", api, "minAvailable: 1\n  selector:\n    matchLabels:\n      app.kubernetes.io/name: syndicate\n      app.kubernetes.io/component: api", "minAvailable: 1\n  selector:\n    matchLabels:\n      app.kubernetes.io/name: syndicate"},
	{"selectors", "statefulset-service", worker, "serviceName: syndicate-worker", "serviceName: syndicate-workers"},
	{"selectors", "networkpolicy", manifestDir + "/optional/networkpolicy.yaml", "app.kubernetes.io/name: syndicate", "app.kubernetes.io/name: syndicat"},
	{"secrets", "unknown-key", api, "key: api-token", "key: token"},
	{"secrets", "real-looking-value", manifestDir + "/secret.example.yaml", "REPLACE_ME_WITH_A_LONG_RANDOM_TOKEN", "syn_0123456789abcdef"},
	{"secrets", "undocumented-key", deployDoc, "--from-literal=api-token=", "--from-literal=token="},
	{"grace", "short-grace", worker, "terminationGracePeriodSeconds: 120", "terminationGracePeriodSeconds: 20"},
	{"resources", "no-memory-limit", worker, "limits:\n              memory: 1Gi", "limits: {}"},
}

// TestPureGo: the image builds with CGO_ENABLED=0 onto a base without a C
// library, so no dependency outside the standard library may use cgo (one
// that does would build a stub or fail). The standard library's cgo
// packages (net, os/user, runtime/cgo) have pure-Go versions.
func TestPureGo(t *testing.T) {
	out, err := goCmd(nil, "list", "-e", "-deps", "-f", "{{if .CgoFiles}}{{.ImportPath}} {{.Standard}}{{end}}", "./cmd/syndicate")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if pkg, std, ok := strings.Cut(line, " "); ok && std != "true" {
			t.Errorf("%s uses cgo: the image's CGO_ENABLED=0 build would lose it", pkg)
		}
	}
	out, err = goCmd([]string{"CGO_ENABLED=0"}, "list", "-e", "-deps", "-f", "{{with .Error}}{{.}}{{end}}", "./cmd/syndicate")
	if err != nil || strings.TrimSpace(out) != "" {
		t.Errorf("CGO_ENABLED=0 go list ./cmd/syndicate: %v\n%s", err, out)
	}
}

// TestStaticBinary builds the binary as the image does and checks that it
// is statically linked, which distroless/static and scratch require. A
// CGO_ENABLED=0 build compiles every dependency anew (minutes when the
// cache is cold), so it runs in the full suite only (SYNDICATE_FULL=1).
func TestStaticBinary(t *testing.T) {
	if os.Getenv("SYNDICATE_FULL") == "" {
		t.Skip("set SYNDICATE_FULL=1 to build the binary as the image does")
	}
	out := filepath.Join(t.TempDir(), "syndicate")
	// buildCommand with the output moved; checkDockerfile holds the
	// Dockerfile to buildCommand.
	if msg, err := goCmd([]string{"CGO_ENABLED=0"}, "build", "-trimpath", "-ldflags=-s -w", "-o", out, "./cmd/syndicate"); err != nil {
		t.Fatalf("%s: %v\n%s", buildCommand, err, msg)
	}
	f, err := elf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary asks for a dynamic loader; distroless/static and scratch have none")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the binary links %v", libs)
	}
}

// goCmd runs the go command at the repository root.
func goCmd(env []string, args ...string) (string, error) {
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), env...)
	b, err := cmd.CombinedOutput()
	return string(b), err
}
