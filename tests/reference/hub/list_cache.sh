#!/usr/bin/env bash
# One line per file or symlink of an HF cache folder, sorted: "path f SIZE" or "path l TARGET";
# lock files (.locks/) left out (huggingface_hub and xmtf-fetch make them, the JS client does not).
set -euo pipefail
cd "$1"
find . -path ./.locks -prune -o \( -type f -printf '%P f %s\n' \) -o \( -type l -printf '%P l %l\n' \) |
  LC_ALL=C sort
