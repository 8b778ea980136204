#!/usr/bin/env bash
# Sets up everything `make run` and `make test` need, from a brand-new Debian machine with
# Python 3.10+ and Node.js 20: the venv at .venv, the package (editable, with its test extras)
# whose install builds the labextension through the hatch-jupyter-builder hook, torch at its
# pinned version, and -- with --browser -- Debian's Chromium and axe-core for the browser tests.
#
# Idempotent and quick when already done: a stamp in .venv records a hash of every input of
# the install (pyproject.toml, the labextension sources and lockfile, the Jupyter config, this
# script); while it matches, nothing is reinstalled.
#
# Usage: scripts/setup.sh [--browser]
# Environment: PYTHON (interpreter for the venv, default python3).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PYTHON="${PYTHON:-python3}"
VENV="$ROOT/.venv"
STAMP="$VENV/.dtrain-setup-stamp"
CHROMIUM=/usr/bin/chromium
# One pinned torch for every machine: PyPI's build of 2.13.0 (~0.5 GB wheel plus NVIDIA's
# libraries, about 5 GB installed; it runs on CPU where there is no GPU). pip's own cache keeps
# a second setup quick.
TORCH_PIN="torch==2.13.0"
WANT_BROWSER=0

for arg in "$@"; do
    case "$arg" in
        --browser) WANT_BROWSER=1 ;;
        *) echo "setup.sh: unknown argument '$arg' (expected --browser)" >&2; exit 2 ;;
    esac
done

say() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }
is_root() { [ "$(id -u)" -eq 0 ]; }

APT_UPDATED=0
apt_install() {
    # Installs Debian packages (no recommends) when running as root; otherwise says what to run.
    _apt_install --no-install-recommends "$@"
}

apt_install_with_recommends() {
    # Chromium's recommends carry the fonts that make screenshots readable.
    _apt_install "$@"
}

_apt_install() {
    local names=()
    local arg
    for arg in "$@"; do
        if [ "${arg#-}" = "$arg" ]; then names+=("$arg"); fi
    done
    if ! is_root; then
        die "missing system package(s): ${names[*]}. Run as root: apt-get update && apt-get install -y ${names[*]}"
    fi
    command -v apt-get >/dev/null || die "missing system package(s): ${names[*]} (and no apt-get to install them)"
    if [ "$APT_UPDATED" -eq 0 ]; then
        say "apt-get update"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        APT_UPDATED=1
    fi
    say "apt-get install -y ${names[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

check_toolchain() {
    command -v "$PYTHON" >/dev/null || die "no '$PYTHON' on PATH: install Python 3.10+ (or set PYTHON=...)"
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
        || die "$PYTHON is $("$PYTHON" -V 2>&1); dtrain-jupyter needs Python 3.10 or newer"
    command -v node >/dev/null || die "Node.js 20 or newer is needed to build the labextension: install it (e.g. apt-get install -y nodejs from a Node 20 source)"
    local major
    major="$(node -p 'process.versions.node.split(".")[0]')"
    [ "$major" -ge 20 ] || die "Node.js $(node --version) is too old to build the labextension: install Node.js 20 or newer"
}

ensure_venv() {
    if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import sys' 2>/dev/null; then
        return
    fi
    say "creating the venv at .venv ($("$PYTHON" -V 2>&1))"
    if ! "$PYTHON" -m venv "$VENV" 2>/dev/null; then
        # Debian's own python3 ships venv/ensurepip separately.
        rm -rf "$VENV"
        apt_install python3-venv
        "$PYTHON" -m venv "$VENV"
    fi
}

# Hash of every file whose change needs a reinstall (new deps, new labextension build).
inputs_hash() {
    {
        printf '%s\n' "$TORCH_PIN"
        cat pyproject.toml install.json scripts/setup.sh
        find jupyter-config labextension/src labextension/style labextension/schema -type f | LC_ALL=C sort | xargs cat
        cat labextension/package.json labextension/yarn.lock labextension/tsconfig.json labextension/.yarnrc.yml
    } | sha256sum | cut -d' ' -f1
}

install_package() {
    local want="$1"
    if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] \
        && [ -f "$VENV/share/jupyter/labextensions/dtrain-jupyter/package.json" ]; then
        say "Python environment up to date (.venv, stamp $(cut -c1-12 "$STAMP"))"
        return
    fi
    rm -f "$STAMP"
    say "installing $TORCH_PIN"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$TORCH_PIN"
    # The build hook skips an existing build folder; remove it so the sources just hashed are
    # the ones built and installed.
    rm -rf dtrain_jupyter/labextension
    say "pip install -e '.[test]' (builds the labextension; the first time takes a few minutes)"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e '.[test]' "$TORCH_PIN"
    printf '%s\n' "$want" > "$STAMP"
    say "Python environment ready"
}

# The package's bytecode, written ahead as pip does for any installed wheel. An editable install
# is never compiled, and where PYTHONDONTWRITEBYTECODE is set (machines like this one) Python then
# compiles every module from source in every process: ~70 ms of each panel kernel's start and of
# each CLI command. compileall skips what is up to date; a stale file is only ignored by Python.
compile_package() {
    "$VENV/bin/python" -m compileall -q -j 0 dtrain_jupyter >/dev/null
}

ensure_browser() {
    if [ -x "$CHROMIUM" ]; then
        return
    fi
    if ! is_root; then
        die "the browser tests need Debian's Chromium at $CHROMIUM. Run as root: apt-get update && apt-get install -y chromium"
    fi
    apt_install_with_recommends chromium
    [ -x "$CHROMIUM" ] || die "apt-get installed chromium but $CHROMIUM is still missing"
}

# axe-core, the accessibility engine the browser tests inject into the panel; pinned by its own
# lockfile, reinstalled only when that lockfile changes.
ensure_axe() {
    local dir="$ROOT/tests/e2e/axe"
    local want have=""
    want="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
    [ -f "$dir/node_modules/.dtrain-lock-hash" ] && have="$(cat "$dir/node_modules/.dtrain-lock-hash")"
    if [ "$want" = "$have" ] && [ -f "$dir/node_modules/axe-core/axe.min.js" ]; then
        return
    fi
    say "npm ci (axe-core for the accessibility audit)"
    npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error >/dev/null
    printf '%s\n' "$want" > "$dir/node_modules/.dtrain-lock-hash"
}

check_toolchain
ensure_venv
install_package "$(inputs_hash)"
compile_package
if [ "$WANT_BROWSER" -eq 1 ]; then
    ensure_browser
    ensure_axe
fi
