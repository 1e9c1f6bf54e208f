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
ETCD_VERSION            ?= 3.6.16
KWOK_VERSION            ?= 0.8.0
CONTROLLER_GEN_VERSION  ?= v0.23.0
GOLANGCI_LINT_VERSION   ?= v2.15.0
KUSTOMIZE_VERSION       ?= v5.8.3

CONTROLLER_GEN := $(BIN)/controller-gen-$(CONTROLLER_GEN_VERSION)
GOLANGCI_LINT  := $(BIN)/golangci-lint-$(GOLANGCI_LINT_VERSION)
KUSTOMIZE      := $(BIN)/kustomize-$(KUSTOMIZE_VERSION)
K8S_BIN        := $(BIN)/k8s/$(K8S_VERSION)
export K8S_VERSION ETCD_VERSION KWOK_VERSION

# envtest finds kube-apiserver, etcd and kubectl here.
export KUBEBUILDER_ASSETS := $(K8S_BIN)

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
verify: generate manifests ## Regenerate everything and fail if the tree changed.
	@gofmt -s -l $$(git ls-files '*.go') | tee /tmp/sortographer-gofmt.txt; test ! -s /tmp/sortographer-gofmt.txt || { echo "gofmt: files above need formatting (make fmt)"; exit 1; }
	@git diff --exit-code -- api config || { echo "generated files are stale: run make generate manifests and commit"; exit 1; }
	@test -z "$$(git status --porcelain -- api config)" || { git status --porcelain -- api config; echo "untracked generated files: commit them"; exit 1; }

##@ Test

.PHONY: test
test: k8s-bin s3-server vet ## Run all tests: unit, envtest, real Redis/MariaDB/PostgreSQL/S3 servers.
	go test -count=1 ./...

.PHONY: test-short
test-short: ## Run the tests that need no servers.
	go test -count=1 -short ./...

##@ Build

.PHONY: build
build: ## Build bin/manager.
	go build -o $(BIN)/manager ./cmd/manager

.PHONY: install
install: $(KUSTOMIZE) ## Install the CRD into the current kubeconfig's cluster.
	$(KUSTOMIZE) build config/crd | kubectl apply --server-side -f -

##@ Tools

.PHONY: tools
tools: $(CONTROLLER_GEN) $(GOLANGCI_LINT) $(KUSTOMIZE) k8s-bin ## Install every pinned tool under bin/.

.PHONY: s3-server
s3-server: ## Build (or reuse) the pinned S3-compatible server (versitygw) the storage tests use.
	@hack/s3-server.sh >/dev/null

.PHONY: k8s-bin
k8s-bin: ## Build (or reuse) the pinned Kubernetes binaries; prints their folder.
	@hack/k8s-bin.sh

$(CONTROLLER_GEN):
	hack/go-install.sh $@ sigs.k8s.io/controller-tools/cmd/controller-gen $(CONTROLLER_GEN_VERSION)

$(GOLANGCI_LINT):
	hack/go-install.sh $@ github.com/golangci/golangci-lint/v2/cmd/golangci-lint $(GOLANGCI_LINT_VERSION)

$(KUSTOMIZE):
	hack/go-install.sh $@ sigs.k8s.io/kustomize/kustomize/v5 $(KUSTOMIZE_VERSION)
