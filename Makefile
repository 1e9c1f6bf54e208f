# Sortographer — a Kubernetes operator for image-classification galleries.
# `make help` lists the targets. Tools are pinned below and installed under bin/.

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec
.DEFAULT_GOAL := help

ROOT := $(abspath .)
BIN  := $(ROOT)/bin
export PATH := $(BIN):$(PATH)
export GOFLAGS ?= -buildvcs=false

## Pinned versions.
K8S_VERSION             ?= 1.37.2
# The oldest Kubernetes the chart supports (kubeVersion in charts/sortographer/Chart.yaml):
# make test runs the controllers' envtest suite and the CRD tests on its API server too.
K8S_OLDEST_VERSION      ?= 1.30.14
ETCD_VERSION            ?= 3.6.16
KWOK_VERSION            ?= 0.8.0
# metrics-server beside the e2e cluster (hack/metrics-server.sh).
METRICS_SERVER_VERSION  ?= 0.9.0
CONTROLLER_GEN_VERSION  ?= v0.23.0
GOLANGCI_LINT_VERSION   ?= v2.15.0
# kustomize v5.8.3 needs Go 1.27; v5.8.2 is the newest that builds with Go 1.26.
KUSTOMIZE_VERSION       ?= v5.8.2
HELM_VERSION            ?= v4.3.1
KUBECONFORM_VERSION     ?= v0.8.0
# Prometheus and promtool (hack/prometheus.sh): module version v0.316.0 is Prometheus 3.16.0.
PROMETHEUS_VERSION      ?= 0.316.0
# The CNCF distribution registry the tests push to (hack/registry.sh). Not exported: the
# registry reads every REGISTRY_* variable as configuration.
REGISTRY_VERSION        ?= 3.1.2

CONTROLLER_GEN := $(BIN)/controller-gen-$(CONTROLLER_GEN_VERSION)
GOLANGCI_LINT  := $(BIN)/golangci-lint-$(GOLANGCI_LINT_VERSION)
KUSTOMIZE      := $(BIN)/kustomize-$(KUSTOMIZE_VERSION)
HELM           := $(BIN)/helm-$(HELM_VERSION)
KUBECONFORM    := $(BIN)/kubeconform-$(KUBECONFORM_VERSION)
K8S_BIN        := $(BIN)/k8s/$(K8S_VERSION)
K8S_OLDEST_BIN := $(BIN)/k8s/$(K8S_OLDEST_VERSION)-apiserver
PROMTOOL       := $(BIN)/promtool-v$(PROMETHEUS_VERSION)/promtool
PROMETHEUS     := $(BIN)/prometheus-v$(PROMETHEUS_VERSION)/prometheus
REGISTRY_BIN   := $(BIN)/registry-v$(REGISTRY_VERSION)/registry
export K8S_VERSION K8S_OLDEST_VERSION ETCD_VERSION KWOK_VERSION METRICS_SERVER_VERSION

# envtest finds kube-apiserver, etcd and kubectl here.
export KUBEBUILDER_ASSETS := $(K8S_BIN)
# Debian's libtesseract (internal/classify/tesseract) is built with OpenMP, whose threads
# spin while they wait: one thread per recognition reads the same text for about a
# quarter of the CPU time. libgomp reads this when it loads, so it is set for every test
# process here, and in the gallery image.
export OMP_THREAD_LIMIT ?= 1
# The pinned kubectl (make install, hack/ scripts) before any other.
export PATH := $(K8S_BIN):$(PATH)
# test/chart runs the pinned tools from these paths.
export HELM KUSTOMIZE KUBECONFORM

# Images (make images): references recorded in the OCI archives under dist/images.
IMAGE_TAG      ?= v0.3.0
MANAGER_IMAGE  ?= ghcr.io/sortographer/sortographer-operator:$(IMAGE_TAG)
GALLERY_IMAGE  ?= ghcr.io/sortographer/sortographer:$(IMAGE_TAG)

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate deepcopy code for the API types.
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths=./api/...

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate the CRD and RBAC from markers.
	$(CONTROLLER_GEN) crd paths=./api/... output:crd:artifacts:config=config/crd/bases
	$(CONTROLLER_GEN) rbac:roleName=sortographer-manager paths=./controllers/... output:rbac:artifacts:config=config/rbac

.PHONY: fmt
fmt: ## Run gofmt on the tree.
	gofmt -s -w $$(git ls-files '*.go' --others --cached --exclude-standard)

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

.PHONY: lint
lint: $(GOLANGCI_LINT) ## Run golangci-lint (config in .golangci.yml).
	$(GOLANGCI_LINT) run ./...

.PHONY: verify
verify: deps generate manifests chart-verify ## Regenerate everything and fail if the tree changed; go.mod tidy; shellcheck.
	@go mod tidy -diff || { echo "go.mod/go.sum are not tidy: run go mod tidy and commit"; exit 1; }
	@shellcheck -S warning hack/*.sh .ci/run || { echo "shellcheck: fix the warnings above"; exit 1; }
	@gofmt -s -l $$(git ls-files '*.go') | tee /tmp/sortographer-gofmt.txt; test ! -s /tmp/sortographer-gofmt.txt || { echo "gofmt: files above need formatting (make fmt)"; exit 1; }
	@git diff --exit-code -- api config || { echo "generated files are stale: run make generate manifests and commit"; exit 1; }
	@test -z "$$(git status --porcelain -- api config)" || { git status --porcelain -- api config; echo "untracked generated files: commit them"; exit 1; }

##@ Test

.PHONY: deps
deps: ## Install the Debian packages the tests and make run need (hack/install-deps.sh; silent when present). Every target below that needs them runs it first.
	@hack/install-deps.sh

.PHONY: test
test: deps node-check k8s-bin k8s-oldest-bin node-bin s3-server dex metrics-server prometheus-bin registry-bin images images-base vet $(HELM) $(KUSTOMIZE) $(KUBECONFORM) ## Run all tests: unit, envtest (on the pinned and the oldest supported Kubernetes), real Redis/MariaDB/PostgreSQL/S3 servers, end to end on a kwok cluster and on a real node.
	PROMTOOL=$(PROMTOOL) PROMETHEUS=$(PROMETHEUS) REGISTRY_BIN=$(REGISTRY_BIN) go test -count=1 -timeout 30m ./...
	KUBEBUILDER_ASSETS=$(K8S_OLDEST_BIN) go test -count=1 -timeout 15m ./controllers/ ./test/crd/
	FUZZTIME=$(FUZZTIME_SHORT) hack/fuzz.sh

FUZZTIME ?= 1m
FUZZTIME_SHORT ?= 7s

.PHONY: fuzz
fuzz: ## Run every fuzz target for FUZZTIME each (default 1m; make fuzz FUZZTIME=5m). make test runs each for 7s.
	FUZZTIME=$(FUZZTIME) hack/fuzz.sh

.PHONY: e2e
e2e: deps node-check k8s-bin node-bin metrics-server prometheus-bin images images-base $(HELM) ## Run only the end-to-end tests: the Helm chart and the operator on a private kwok cluster (test/e2e) and a spec: {} Gallery in real containers on a real node (test/realnode).
	PROMETHEUS=$(PROMETHEUS) go test -count=1 -v -timeout 30m ./test/e2e/ ./test/realnode/

.PHONY: bench
bench: deps k8s-bin s3-server ## Run every benchmark (queue vs redis-benchmark, classifier, thumbnails vs vipsthumbnail, upload throughput, list/search at 100k images, upload→labelled).
	hack/bench.sh

.PHONY: eval
eval: deps ## Score the configured classifier (default the built-in model; SORTOGRAPHER_CLASSIFIER=rekognition and its settings for Rekognition) on the labelled photos of test/eval/photos.yaml: precision and recall per label and overall, with and without the label hierarchy, and each photo's mistakes. A benchmark: not part of make test.
	SORTOGRAPHER_MODEL_DIR="$${SORTOGRAPHER_MODEL_DIR:-$$(hack/model.sh | tail -n1)}" go run ./test/eval/cmd/eval

BENCH_GALLERIES ?= 100 500 1000
BENCH_STEADY ?= 600
.PHONY: bench-operator
bench-operator: deps k8s-bin ## The operator at scale on the local kwok cluster: BENCH_GALLERIES (default "100 500 1000", about 75 minutes on 2 cores) spec: {} Galleries vs a parallel server-side apply of the same children; writes, passes, RSS, CPU, BENCH_STEADY seconds of steady state (default 600), restart (hack/bench-operator.sh; "unrelated" mode: hack/bench-operator.sh unrelated 5000).
	STEADY=$(BENCH_STEADY) hack/bench-operator.sh scale $(BENCH_GALLERIES)

.PHONY: test-short
test-short: $(HELM) $(KUSTOMIZE) ## Run the tests that need no servers.
	go test -count=1 -short ./...

.PHONY: chart-test
chart-test: k8s-bin $(HELM) $(KUSTOMIZE) $(KUBECONFORM) ## Check the Helm chart and config/default: lint, values schema, RBAC and CRD drift, kubeconform, apiserver dry-run.
	go test -count=1 ./test/chart/

##@ Build

.PHONY: build
build: ## Build bin/manager.
	go build -o $(BIN)/manager ./cmd/manager

.PHONY: install
install: $(KUSTOMIZE) ## Install the CRD into the current kubeconfig's cluster.
	$(KUSTOMIZE) build config/crd | kubectl apply --server-side -f -

.PHONY: images
images: image-manager image-gallery image-gallery-arm64 ## Build the operator and gallery images, for linux/amd64 and linux/arm64, as OCI archives in dist/images (no Docker needed).

.PHONY: image-manager
image-manager: ## Build dist/images/manager.tar (this machine's architecture) and manager-arm64.tar (static binary, CA certificates, user 65532); make push joins them in one image index.
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o $(ROOT)/dist/bin/manager ./cmd/manager
	go run ./hack/imagebuild -o $(ROOT)/dist/images/manager.tar -tag $(MANAGER_IMAGE) -binary $(ROOT)/dist/bin/manager -entrypoint /manager
	CGO_ENABLED=0 GOARCH=arm64 go build -trimpath -ldflags "-s -w" -o $(ROOT)/dist/bin/linux-arm64/manager ./cmd/manager
	go run ./hack/imagebuild -arch arm64 -o $(ROOT)/dist/images/manager-arm64.tar -tag $(MANAGER_IMAGE) -binary $(ROOT)/dist/bin/linux-arm64/manager -entrypoint /manager

# libvips' run-time modules the gallery image ships: heif alone, for HEIC/HEIF and AVIF.
# The app refuses JPEG XL, PDF, slides and ImageMagick's formats by their bytes before
# libvips sees them, and libvips loads every module it finds at start-up, so jxl, poppler,
# openslide and magick would add libraries to every process and to the attack surface
# and decode nothing (docs/operator.md, the gallery image).
GALLERY_VIPS_MODULES ?= heif
# Tesseract's languages the gallery image carries (tesseract-ocr-<lang>'s traineddata,
# the same files for every architecture): English and Korean.
GALLERY_TESSDATA ?= eng,kor

.PHONY: image-gallery
image-gallery: ## Build dist/images/gallery.tar (the gallery binary with libvips and its HEIF module, libtesseract with English and Korean, the built-in model and ONNX Runtime from hack/model.sh).
	CGO_ENABLED=1 go build -trimpath -ldflags "-s -w -X main.version=$(IMAGE_TAG)" -o $(ROOT)/dist/bin/sortographer ./cmd/sortographer
	model=$$(hack/model.sh | tail -n1) || { echo "image-gallery: hack/model.sh failed; building without the built-in model"; model=""; }; \
	go run ./hack/imagebuild -o $(ROOT)/dist/images/gallery.tar -tag $(GALLERY_IMAGE) -binary $(ROOT)/dist/bin/sortographer -entrypoint /sortographer \
	  $(if $(GALLERY_VIPS_MODULES),-vips-modules $(GALLERY_VIPS_MODULES)) $(if $(GALLERY_TESSDATA),-tessdata $(GALLERY_TESSDATA)) $${model:+-model-dir $$model}

# The gallery for linux/arm64 (Graviton): cross-built by Debian's aarch64 gcc and g++
# (gosseract's bridge to libtesseract is C++) against bookworm's arm64 libvips and
# libtesseract, which hack/baseimages -sysroot unpacks (with their libraries, and the
# headers of libvips-dev, libglib2.0-dev, libtesseract-dev and libleptonica-dev alone)
# into $(SYSROOT_ARM64) without installing anything; the image's libraries come from
# there too, and ONNX Runtime's arm64 library from the same npm package as amd64's.
# pkg-config is bypassed: vips.pc requires the .pc files of two dozen -dev packages the
# build does not need.
SYSROOT_ARM64        := $(BIN)/sysroot-arm64
SYSROOT_ARM64_LIBDIR := $(SYSROOT_ARM64)/usr/lib/aarch64-linux-gnu
GALLERY_ARM64_LIBS   := libvips42 libstdc++6 libtesseract5
GALLERY_ARM64_HEADERS := libvips-dev,libglib2.0-dev,libtesseract-dev,libleptonica-dev

.PHONY: image-gallery-arm64
image-gallery-arm64: deps ## Build dist/images/gallery-arm64.tar: the gallery cross-built for linux/arm64, with bookworm's arm64 libvips and libtesseract and ONNX Runtime's arm64 library; make push joins it with gallery.tar in one image index.
	go run ./hack/baseimages -sysroot $(SYSROOT_ARM64) -sysroot-arch arm64 -sysroot-headers $(GALLERY_ARM64_HEADERS) $(GALLERY_ARM64_LIBS)
	CGO_ENABLED=1 GOARCH=arm64 CC=aarch64-linux-gnu-gcc CXX=aarch64-linux-gnu-g++ PKG_CONFIG=true \
	  CGO_CFLAGS="-O2 -g -I$(SYSROOT_ARM64)/usr/include -I$(SYSROOT_ARM64)/usr/include/glib-2.0 -I$(SYSROOT_ARM64_LIBDIR)/glib-2.0/include" \
	  CGO_CXXFLAGS="-O2 -g -I$(SYSROOT_ARM64)/usr/include" \
	  CGO_LDFLAGS="-O2 -g -L$(SYSROOT_ARM64_LIBDIR) -Wl,-rpath-link=$(SYSROOT_ARM64_LIBDIR) -lvips -lgobject-2.0 -lglib-2.0" \
	  go build -trimpath -ldflags "-s -w -X main.version=$(IMAGE_TAG)" -o $(ROOT)/dist/bin/linux-arm64/sortographer ./cmd/sortographer
	model=$$(hack/model.sh arm64 | tail -n1) || { echo "image-gallery-arm64: hack/model.sh failed; building without the built-in model"; model=""; }; \
	go run ./hack/imagebuild -arch arm64 -sysroot $(SYSROOT_ARM64) -o $(ROOT)/dist/images/gallery-arm64.tar -tag $(GALLERY_IMAGE) \
	  -binary $(ROOT)/dist/bin/linux-arm64/sortographer -entrypoint /sortographer \
	  $(if $(GALLERY_VIPS_MODULES),-vips-modules $(GALLERY_VIPS_MODULES)) $(if $(GALLERY_TESSDATA),-tessdata $(GALLERY_TESSDATA)) $${model:+-model-dir $$model}

.PHONY: images-base
images-base: deps ## Build dist/images/{pause,redis,mariadb,mariadb-next}.tar for the real node: cmd/pause, and Redis and MariaDB from Debian's packages, tagged as the node asks for them; mariadb-next.tar (MariaDB 11.8 from Debian trixie, fetched into the cache) is what the upgrade test moves a managed database to.
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o $(ROOT)/dist/bin/pause ./cmd/pause
	go run ./hack/baseimages -o $(ROOT)/dist/images -pause $(ROOT)/dist/bin/pause

# make push REGISTRY=registry.example.com/sortographer: where the images go (HOST[:PORT][/PATH]).
# PUSH_INSECURE=1 allows plain HTTP to it. PUSH_COPY="SRC=DST ...": images to copy there
# too, each SRC (an image or a multi-platform index, e.g. docker.io/library/redis:7.4-alpine)
# to DST under REGISTRY, for clusters that cannot reach SRC's registry (hack/push).
REGISTRY      ?=
PUSH_INSECURE ?=
PUSH_COPY     ?=

.PHONY: push
push: ## Push what `make images` built (dist/images/manager*.tar, gallery*.tar; one index per reference for several platforms) to REGISTRY=host/path, and PUSH_COPY's SRC=DST copies; prints each pushed reference@digest.
	@test -n "$(REGISTRY)" || { echo "make push: set REGISTRY, the registry and path to push to: make push REGISTRY=registry.example.com/sortographer"; exit 1; }
	@ls dist/images/manager*.tar dist/images/gallery*.tar >/dev/null 2>&1 || { echo "make push: no dist/images/manager*.tar or gallery*.tar: run make images first"; exit 1; }
	go run ./hack/push -registry $(REGISTRY) $(if $(PUSH_INSECURE),-insecure) $(foreach c,$(PUSH_COPY),-copy $(c)) dist/images/manager*.tar dist/images/gallery*.tar

.PHONY: chart-sync
chart-sync: ## Copy the generated CRD and RBAC rules into the Helm chart (after make manifests).
	cp config/crd/bases/sortographer.io_galleries.yaml charts/sortographer/files/crds/
	cp config/rbac/role.yaml charts/sortographer/files/rbac/

.PHONY: chart-verify
chart-verify: ## Fail if the chart's copies of the CRD or RBAC rules are stale.
	@cmp -s config/crd/bases/sortographer.io_galleries.yaml charts/sortographer/files/crds/sortographer.io_galleries.yaml && cmp -s config/rbac/role.yaml charts/sortographer/files/rbac/role.yaml || { echo "the chart's CRD or RBAC copy is stale: run make chart-sync and commit"; exit 1; }

##@ Local cluster

.PHONY: node-check
node-check: ## Say in one line why this machine cannot run the local cluster's real node, if it cannot.
	@hack/node.sh check

.PHONY: run
run: deps node-check k8s-bin images images-base ## The main job: a local cluster with a real node, the operator and a spec: {} Gallery running in real containers; prints its URL (Ctrl-C stops all).
	go build -o $(BIN)/run ./hack/run
	$(BIN)/run


.PHONY: cluster
cluster: k8s-bin ## Start the local kwok cluster (3 simulated nodes in 3 zones; REAL_NODE=1 for a real node instead) in the background; the last line is its kubeconfig.
	@hack/cluster.sh up

.PHONY: cluster-down
cluster-down: ## Stop the local cluster and delete its state.
	@hack/cluster.sh down

##@ Tools

.PHONY: tools
tools: $(CONTROLLER_GEN) $(GOLANGCI_LINT) $(KUSTOMIZE) $(HELM) $(KUBECONFORM) k8s-bin ## Install every pinned tool under bin/.

.PHONY: s3-server
s3-server: ## Build (or reuse) the pinned S3-compatible server (versitygw) the storage tests use.
	@hack/s3-server.sh >/dev/null

.PHONY: dex
dex: ## Build (or reuse) the pinned Dex, the OpenID provider the single sign-on tests use.
	@hack/dex.sh >/dev/null

.PHONY: metrics-server
metrics-server: ## Build (or reuse) the pinned metrics-server the end-to-end tests run beside the cluster.
	@hack/metrics-server.sh >/dev/null

.PHONY: prometheus-bin
prometheus-bin: ## Build (or reuse) the pinned Prometheus and promtool: test/alerts checks the chart's alert rules and dashboard with promtool, test/realnode runs Prometheus.
	@PROMETHEUS_VERSION=$(PROMETHEUS_VERSION) hack/prometheus.sh >/dev/null

.PHONY: registry-bin
registry-bin: ## Build (or reuse) the pinned CNCF distribution registry that internal/testservers.Registry runs for the tests that push images (hack/push).
	@REGISTRY_VERSION=$(REGISTRY_VERSION) hack/registry.sh >/dev/null

.PHONY: node-bin
node-bin: ## Build (or reuse) what the local cluster's real node runs: kubelet, kube-proxy, containerd, CNI plugins, CoreDNS.
	@hack/node-bin.sh >/dev/null

.PHONY: k8s-bin
k8s-bin: ## Build (or reuse) the pinned Kubernetes binaries; prints their folder.
	@hack/k8s-bin.sh

.PHONY: k8s-oldest-bin
k8s-oldest-bin: ## Build (or reuse) the oldest supported Kubernetes' kube-apiserver, beside the pinned etcd; prints the folder.
	@hack/k8s-oldest-bin.sh

$(CONTROLLER_GEN):
	hack/go-install.sh $@ sigs.k8s.io/controller-tools/cmd/controller-gen $(CONTROLLER_GEN_VERSION)

$(GOLANGCI_LINT):
	hack/go-install.sh $@ github.com/golangci/golangci-lint/v2/cmd/golangci-lint $(GOLANGCI_LINT_VERSION)

$(KUSTOMIZE):
	hack/go-install.sh $@ sigs.k8s.io/kustomize/kustomize/v5 $(KUSTOMIZE_VERSION)

$(HELM):
	hack/go-install.sh $@ helm.sh/helm/v4/cmd/helm $(HELM_VERSION)

$(KUBECONFORM):
	hack/go-install.sh $@ github.com/yannh/kubeconform/cmd/kubeconform $(KUBECONFORM_VERSION)
