#!/usr/bin/env bash
# Build the one-folder desktop app into dist/latentlab/ with the active Python environment.
#
#   pip install -e '.[package]' && packaging/build.sh
#
# Prints the folder's size and the build time. Extra arguments go to PyInstaller.
set -euo pipefail
cd "$(dirname "$0")/.."

# PyInstaller refuses to bundle two Qt bindings, and pyqtgraph would pick whichever it finds
# first: the build environment must hold PySide6 alone.
others=$(python - <<'EOF'
import importlib.util
print(" ".join(n for n in ("PyQt5", "PyQt6", "PySide2") if importlib.util.find_spec(n)))
EOF
)
if [ -n "$others" ]; then
    echo "build.sh: this environment also has $others; build from one with PySide6 as its only Qt binding." >&2
    exit 2
fi

start=$(date +%s)
python -m PyInstaller --noconfirm --clean --log-level WARN \
    --distpath dist --workpath build/pyinstaller "$@" packaging/latentlab.spec
echo "built dist/latentlab in $(( $(date +%s) - start )) s; size $(du -sh dist/latentlab | cut -f1)"
