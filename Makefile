# The two set-up commands are `make run` and `make test`; both install what they need first.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
HOST ?= 0.0.0.0
DATA ?= ../shared/datasets/fer2013
RUN_DIR ?= build/runs/default
export PYTHONPATH := $(CURDIR)/services/contract:$(CURDIR)/services/trainer:$(CURDIR)/services/api:$(CURDIR)/services/rollout

.PHONY: install lean lean-lock vendor-serving-protos check-serving system-deps lint-tools run test fuzz audit train evaluate export bench bench-train bench-detect bench-footprint bench-arch bench-real bench-stream bench-frontier soak rollout-% clean

# The venv is rebuilt whenever the lock file changes; pip fails loudly on any missing pin.
$(VENV)/.installed: requirements/lock.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements/lock.txt
	touch $@

install: $(VENV)/.installed

# Programs the test suite runs for real: Redis, Prometheus (+promtool), Chromium, docker-compose.
system-deps:
	@bash scripts/install-system-deps.sh

run: install
	$(PY) -m uvicorn emotion_api.main:app --host $(HOST) --port $(PORT) --no-server-header

test: install lean system-deps lint-tools
	$(PY) -m pytest

# The schema fuzzing of `make test` with many more examples per operation (a benchmark-length run).
FUZZ_EXAMPLES ?= 1000
fuzz: install
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest tests/api/test_fuzz_schema.py -q

# Known vulnerabilities of every pin in the lock file, from PyPI's advisory data. --strict: a pin
# that could not be looked up fails the audit instead of passing as "no known vulnerabilities".
audit: install
	$(PY) -m pip_audit --strict --requirement requirements/lock.txt --no-deps --disable-pip --progress-spinner off

train: install
	$(PY) -m fer_trainer train --data $(DATA) --run-dir $(RUN_DIR) --cycles --export $(if $(RESUME),--resume,)

LEAN_VENV := build/lean-venv

# The gateway for BACKEND=serving without TensorFlow (tests/api/test_lean_gateway.py runs it):
# requirements/lean-lock.txt, with the Serving protos from services/api/serving-protos on PYTHONPATH.
$(LEAN_VENV)/.installed: requirements/lean-lock.txt
	$(PYTHON) -m venv $(LEAN_VENV)
	$(LEAN_VENV)/bin/python -m pip install --disable-pip-version-check -q -r requirements/lean-lock.txt
	touch $@

lean: $(LEAN_VENV)/.installed

# After a pin of requirements/lean.in or lock.txt moves: re-resolve the lean lock at lock.txt's versions.
lean-lock:
	rm -rf build/lean-lock-venv && $(PYTHON) -m venv build/lean-lock-venv
	build/lean-lock-venv/bin/python -m pip install --disable-pip-version-check -q -r requirements/lean.in -c requirements/lock.txt
	{ sed -n '1,2p' requirements/lean-lock.txt; build/lean-lock-venv/bin/python -m pip freeze; } > requirements/lean-lock.txt.tmp
	mv requirements/lean-lock.txt.tmp requirements/lean-lock.txt

# After tensorflow or tensorflow-serving-api moves: copy their generated Serving protos again.
vendor-serving-protos: install
	$(PY) scripts/vendor_serving_protos.py

CHECK_VENV := build/serving-check-venv

# TensorFlow as the pinned TF Serving image embeds it (requirements/serving-check.txt).
$(CHECK_VENV)/.installed: requirements/serving-check.txt
	$(PYTHON) -m venv $(CHECK_VENV)
	$(CHECK_VENV)/bin/python -m pip install --disable-pip-version-check -q -r requirements/serving-check.txt
	touch $@

# Every version under models/emotion through serving_default and metadata under Serving's
# TensorFlow and the trainer's, on val: max |delta p|, top-1 agreement (100 % required). CI runs it.
check-serving: install $(CHECK_VENV)/.installed
	$(PY) scripts/check_serving.py --python $(CHECK_VENV)/bin/python --data $(DATA)

LINT_VENV := build/lint-venv

# hadolint and checkov (tests/deploy/test_lint.py) in their own venv: checkov's pins conflict with the lock.
$(LINT_VENV)/.installed: requirements/lint.txt
	$(PYTHON) -m venv $(LINT_VENV)
	$(LINT_VENV)/bin/python -m pip install --disable-pip-version-check -q -r requirements/lint.txt
	touch $@

lint-tools: $(LINT_VENV)/.installed

FER_VENV := build/fer-venv
# face-api.js's expression network, a peer on real photos (bench/faceapi_peer.py): the npm tarball,
# pinned and checked against the registry's SHA-1, unpacked into build/face-api/package.
FACEAPI := build/face-api/.installed
FACEAPI_TGZ := https://registry.npmjs.org/@vladmandic/face-api/-/face-api-1.7.15.tgz
FACEAPI_SHA1 := 10cddf5c405f6f52f37605c9ee28c91ac6a23ead

# `fer` (the library a user would pick instead) is compared in its own venv: its pins
# (numpy<2, torch) conflict with the gateway's.
$(FER_VENV)/.installed: requirements/fer-bench.txt
	$(PYTHON) -m venv $(FER_VENV)
	$(FER_VENV)/bin/python -m pip install --disable-pip-version-check -q -r requirements/fer-bench.txt
	touch $@

bench: install $(FER_VENV)/.installed
	$(PY) bench/gateway_bench.py $(BENCH_ARGS)

bench-train: install
	$(PY) bench/train_speed.py --data $(DATA)

bench-arch: install
	$(PY) bench/arch_compare.py --data $(DATA)

# Many clients for minutes on scenes, faces and bad inputs: statuses, latency, memory slope, files left.
soak: install
	$(PY) bench/soak.py $(BENCH_ARGS)

# Val accuracy against multiply-adds and measured faces/s for every version (and --model candidates).
bench-frontier: install
	$(PY) bench/frontier.py --data $(DATA) $(BENCH_ARGS)

# Installed size and resident memory of the lean gateway against the full install's.
bench-footprint: install lean
	$(PY) bench/footprint.py $(BENCH_ARGS)

bench-detect: install
	$(PY) bench/detection_bench.py --data $(DATA)

# Stream face search by STREAM_FULL_DETECT_EVERY (docs/detection.md, "Streams"); BENCH_ARGS e.g. --every 1,5
bench-stream: install
	$(PY) bench/stream_bench.py --data $(DATA) $(BENCH_ARGS)

# The gateway's own path and `fer` on ../shared/datasets/real-photos (evaluation only, never trained on).
# BENCH_ARGS e.g. --model models/emotion/9 --set DETECTOR=haar
bench-real: install $(FER_VENV)/.installed $(FACEAPI)
	$(PY) bench/real_photos.py $(BENCH_ARGS)

$(FACEAPI):
	mkdir -p build/face-api
	$(PYTHON) -c "import hashlib, sys, urllib.request; data = urllib.request.urlopen('$(FACEAPI_TGZ)', timeout=120).read(); \
	    digest = hashlib.sha1(data).hexdigest(); \
	    sys.exit(f'face-api tarball: sha1 {digest}, expected $(FACEAPI_SHA1)') if digest != '$(FACEAPI_SHA1)' else None; \
	    open('build/face-api/face-api.tgz', 'wb').write(data)"
	tar -xzf build/face-api/face-api.tgz -C build/face-api package/package.json package/LICENSE \
	    package/model/face_expression_model.bin package/model/face_expression_model-weights_manifest.json
	touch $@

# Model rollout (docs/rollout.md). VERSION=N; WEIGHT=0.1 for canary; ROLLOUT_BACKEND=serving
# (with SERVING_ADDRESS) drives TF Serving's labels, the default drives the embedded gateway.
rollout-candidate: install
	$(PY) -m emotion_rollout candidate $(VERSION) --data $(DATA)

rollout-canary: install
	$(PY) -m emotion_rollout canary $(VERSION) $(if $(WEIGHT),--weight $(WEIGHT),)

rollout-promote: install
	$(PY) -m emotion_rollout promote $(VERSION)

rollout-rollback: install
	$(PY) -m emotion_rollout rollback

clean:
	rm -rf $(VENV) .pytest_cache build artifacts
