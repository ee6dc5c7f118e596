#!/usr/bin/env bash
# Set up everything govkit needs on a fresh Debian machine with Python 3.11:
#   1. system packages (apt-get when running as root; otherwise say what is missing),
#   2. the virtual environment .venv with PyTorch (pinned CPU wheel first) and govkit.
# Usage: scripts/bootstrap.sh [--system-only]
set -euo pipefail
cd "$(dirname "$0")/.."

# command-to-check:debian-package
SYSTEM_DEPS=(
  "tesseract:tesseract-ocr"
  "pdftotext:poppler-utils"
  "pdftoppm:poppler-utils"
  "pg_ctlcluster:postgresql"
)
# shared libraries loaded at run time (WeasyPrint, OpenCV)
SYSTEM_LIBS=(
  "libpango-1.0.so.0:libpango-1.0-0"
  "libpangoft2-1.0.so.0:libpangoft2-1.0-0"
  "libharfbuzz.so.0:libharfbuzz0b"
  "libharfbuzz-subset.so.0:libharfbuzz-subset0"
  # OpenCV, which RapidOCR (the default OCR for burned-in text) imports
  "libGL.so.1:libgl1"
  "libgthread-2.0.so.0:libglib2.0-0"
)

missing=()
for entry in "${SYSTEM_DEPS[@]}"; do
  command -v "${entry%%:*}" >/dev/null 2>&1 || missing+=("${entry##*:}")
done
for entry in "${SYSTEM_LIBS[@]}"; do
  ldconfig -p 2>/dev/null | grep -q "${entry%%:*}" || missing+=("${entry##*:}")
done
ls /usr/share/tesseract-ocr/*/tessdata/eng.traineddata >/dev/null 2>&1 || missing+=("tesseract-ocr-eng")
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing+=("fonts-dejavu-core")
if [ ${#missing[@]} -gt 0 ]; then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "bootstrap: installing system packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "bootstrap: missing system packages: ${missing[*]}" >&2
    echo "bootstrap: install them with: sudo apt-get install ${missing[*]}" >&2
    exit 2
  fi
fi
[ "${1:-}" = "--system-only" ] && exit 0

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv"
  "$PYTHON" -m venv .venv
fi
PIP=(.venv/bin/python -m pip -q --disable-pip-version-check)
# The pinned CPU wheel first: a bare 'torch' requirement would resolve a multi-GB CUDA build.
.venv/bin/python -c "import torch" 2>/dev/null || "${PIP[@]}" install "torch==2.13.0"
"${PIP[@]}" install -e ".[postgres,nlp,dask,test]"
echo "bootstrap: environment ready in .venv"
