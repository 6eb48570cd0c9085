#!/usr/bin/env bash
# Installs what xmtf needs from Debian's packages. Idempotent: installs nothing when all is present.
# Called first by `make run` and `make test`. Set XMTF_SKIP_SETUP=1 to skip it entirely.
set -euo pipefail

# Build and runtime libraries (see docs/decisions.md for why each one).
PACKAGES=(
  build-essential cmake pkg-config git
  mpich libmpich-dev libhdf5-mpich-dev hdf5-tools
  libtomlplusplus-dev libcli11-dev libfmt-dev
  libcurl4-openssl-dev libssl-dev libsqlite3-dev sqlite3
  libgtest-dev libgmock-dev libbenchmark-dev libcpp-httplib-dev
  libopenblas-dev libsentencepiece-dev libpcre2-dev libicu-dev
  libsimdjson-dev nlohmann-json3-dev libyaml-cpp-dev libyaml-dev zlib1g-dev
  # xmtf-eval runs HumanEval completions with the system's Python 3 (in its sandbox)
  python3
  # test-time tools: a real SLURM for the scheduler's integration tests, h5py to read our HDF5
  slurmctld slurmd slurm-client munge python3-h5py
  # headless Chromium opens report.html in the report test (screenshot read with libpng)
  chromium fonts-dejavu-core libpng-dev
)

[ "${XMTF_SKIP_SETUP:-0}" = 1 ] && exit 0

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "setup: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "setup: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
