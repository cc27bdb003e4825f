#!/usr/bin/env bash
# Idempotent local set-up, run by `make setup`, `make run` and `make test`:
#   1. system programs (ffmpeg, redis-server; chromium, docker-compose, podman, runc,
#      netavark, aardvark-dns, iptables and debootstrap for the browser and deployment tests),
#      installed with apt-get when missing and we are root or may sudo;
#   2. .venv with the project installed (again only when pyproject.toml or Python changed).
set -euo pipefail

cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
VENV=".venv"
STAMP="$VENV/.ffcluster-installed"

say() { printf 'setup: %s\n' "$*"; }

REQUIRED=(ffmpeg ffprobe redis-server)   # `ffcluster up` and most tests
OPTIONAL=(chromium docker-compose podman runc debootstrap ip tc iptables redis-sentinel)
    # browser, deployment, multi-host and failover tests; netavark (podman's network backend)
    # runs iptables for every container network, and no Debian package pulls it in

apt_package() {
    case "$1" in
        ffprobe) echo ffmpeg ;;
        ip | tc) echo iproute2 ;;
        *) echo "$1" ;;
    esac
}

missing_commands() {
    local cmd
    for cmd in "$@"; do
        command -v "$cmd" >/dev/null 2>&1 || echo "$cmd"
    done
}

apt_runner() {
    command -v apt-get >/dev/null 2>&1 || return 1
    if [ "$(id -u)" -eq 0 ]; then
        echo "env"
    elif command -v sudo >/dev/null 2>&1 && { sudo -n true 2>/dev/null || [ -t 0 ]; }; then
        echo "sudo env"
    else
        return 1
    fi
}

wanted_packages() {
    local cmd
    for cmd in $(missing_commands "${REQUIRED[@]}" "${OPTIONAL[@]}"); do apt_package "$cmd"; done
    if command -v apt-get >/dev/null 2>&1 && ! compgen -G "/usr/share/fonts/truetype/liberation*" \
            >/dev/null; then
        echo fonts-liberation   # so that browser screenshots show text
    fi
    if command -v apt-get >/dev/null 2>&1 && [ ! -x /usr/lib/podman/netavark ]; then
        echo netavark       # podman's network backend, with aardvark-dns for service names
        echo aardvark-dns
    fi
    if ! "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1 && [ ! -x "$VENV/bin/python" ]; then
        echo python3-venv
    fi
}

install_system_packages() {
    local runner pkg policy available=() unavailable=()
    mapfile -t wanted < <(wanted_packages | sort -u)
    [ "${#wanted[@]}" -eq 0 ] && return 0
    if ! runner="$(apt_runner)"; then
        say "missing: ${wanted[*]}"
        case "$(uname -s)" in
            Darwin) say "on macOS: brew install ffmpeg redis (and chromium, docker-compose" \
                        "for the browser and compose tests)" ;;
            Linux) say "install them with your package manager (dnf install ffmpeg redis" \
                       "chromium docker-compose, pacman -S ffmpeg redis chromium" \
                       "docker-compose), or run this again as root or with sudo on Debian/Ubuntu" ;;
            *) say "install ffmpeg and redis-server, then run this again" ;;
        esac
        return 0
    fi
    say "installing ${wanted[*]} with apt-get"
    $runner DEBIAN_FRONTEND=noninteractive apt-get update -qq
    for pkg in "${wanted[@]}"; do
        # Read the whole answer first: `grep -q` closing the pipe early makes apt-cache die
        # of SIGPIPE, which pipefail turns into "not available".
        policy="$(apt-cache policy "$pkg" 2>/dev/null || true)"
        if grep -q 'Candidate: [^(]' <<<"$policy"; then
            available+=("$pkg")
        else
            unavailable+=("$pkg")
        fi
    done
    [ "${#unavailable[@]}" -gt 0 ] && say "apt has no ${unavailable[*]} here; skipping them"
    [ "${#available[@]}" -eq 0 ] && return 0
    $runner DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${available[@]}"
}

check_programs() {
    local cmd missing
    missing="$(missing_commands "${REQUIRED[@]}" | tr '\n' ' ')"
    if [ -n "$missing" ]; then
        say "ffcluster cannot run without: ${missing}(see above for how to install them)"
        exit 1
    fi
    for cmd in $(missing_commands "${OPTIONAL[@]}"); do
        say "note: $cmd is missing, so the tests that need it will say so and skip"
    done
}

install_venv() {
    local want
    want="$(sha256sum pyproject.toml | cut -d' ' -f1) $("$PYTHON" --version 2>&1)"
    if [ -x "$VENV/bin/ffcluster" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
        return 0
    fi
    if [ ! -x "$VENV/bin/python" ]; then
        say "creating $VENV with $("$PYTHON" --version 2>&1)"
        "$PYTHON" -m venv "$VENV"
    fi
    say "installing the project into $VENV (pip install -e '.[dev]')"
    "$VENV/bin/python" -m pip install -q -e '.[dev]'
    echo "$want" > "$STAMP"
}

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    say "ffcluster needs Python 3.11 or newer as $PYTHON (set PYTHON=... to choose another)"
    exit 1
fi
install_system_packages
check_programs
install_venv
