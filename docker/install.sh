#!/bin/sh
# Creates a virtualenv and installs quizsvc into it: CPU PyTorch first (a bare torch
# requirement would pull a multi-GB CUDA build), then the package with the given extras.
# Used by the Makefile (the README's commands) and by docker/Dockerfile, so both install the
# same thing.
#
#   docker/install.sh VENV_DIR [EXTRAS] [--editable]
#
# TORCH_FLAVOR=cpu (default) or a CUDA flavour such as cu128 for the GPU image;
# TORCH_INDEX_URL overrides where that flavour comes from.
set -eu

venv=${1:?usage: install.sh VENV_DIR [EXTRAS] [--editable]}
extras=${2:-}
editable=${3:-}
here=$(cd "$(dirname "$0")/.." && pwd)
torch_version=2.13.0
flavor=${TORCH_FLAVOR:-cpu}

python3 -m venv "$venv"
pip="$venv/bin/python -m pip"
$pip install --no-cache-dir --upgrade pip

if [ "$flavor" = cpu ] && [ -z "${TORCH_INDEX_URL:-}" ]; then
    # A local wheel (find-links) or the registry's CPU build.
    $pip install --no-cache-dir "torch==$torch_version"
else
    $pip install --no-cache-dir "torch==$torch_version" \
        --index-url "${TORCH_INDEX_URL:-https://download.pytorch.org/whl/$flavor}"
fi

target="$here"
[ -n "$extras" ] && target="$here[$extras]"
if [ "$editable" = --editable ]; then
    $pip install --no-cache-dir -e "$target"
else
    $pip install --no-cache-dir "$target"
fi
