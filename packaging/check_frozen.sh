#!/usr/bin/env bash
# Run the frozen app's --self-test the way a user's machine would: no Python environment
# (env -i), another working directory. Fails when the self-test fails, when it prints
# anything at all on stderr, or when it writes anything inside the app's folder.
#
#   packaging/check_frozen.sh [dist/latentlab]
set -euo pipefail
app_dir=$(cd "${1:-$(dirname "$0")/../dist/latentlab}" && pwd)
exe="$app_dir/latentlab"
[ -x "$exe" ] || { echo "check_frozen.sh: no frozen app at $exe; build it with packaging/build.sh first." >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
listing() { find "$app_dir" -printf '%P %s %T@\n' | sort; }
listing > "$work/before.txt"

cd "$work"
start=$(date +%s%N)
status=0
env -i "$exe" --self-test "$work/out" > "$work/stdout.txt" 2> "$work/stderr.txt" || status=$?
millis=$(( ($(date +%s%N) - start) / 1000000 ))

failed=0
if [ "$status" -ne 0 ]; then
    echo "check_frozen.sh: the frozen self-test exited with $status." >&2
    failed=1
fi
if [ -s "$work/stderr.txt" ]; then
    echo "check_frozen.sh: the frozen self-test wrote to stderr:" >&2
    sed 's/^/    /' "$work/stderr.txt" >&2
    failed=1
fi
if ! python3 - "$work/out/result.json" <<'EOF'
import json, sys
result = json.load(open(sys.argv[1]))
bad = [c["name"] + ": " + c["detail"] for c in result["checks"] if not c["ok"]]
# Every instrument has a check of its own, by name.
named = {c["name"] for c in result["checks"]}
bad += [f"{name}: no such check" for name in ("traversal", "manifold", "encode image", "direction", "slerp",
                                              "posterior ellipse", "NLL", "scrubber", "run B", "UMAP",
                                              "all items")
        if name not in named]
for line in bad:
    print("    failed:", line, file=sys.stderr)
if not result["frozen"]:
    print("    result.json says the app was not frozen", file=sys.stderr)
sys.exit(0 if result["ok"] and result["frozen"] and not bad else 1)
EOF
then
    echo "check_frozen.sh: result.json does not report a passing frozen self-test." >&2
    failed=1
fi
listing > "$work/after.txt"
if ! diff -q "$work/before.txt" "$work/after.txt" > /dev/null; then
    echo "check_frozen.sh: the app changed files inside its own folder:" >&2
    diff "$work/before.txt" "$work/after.txt" | sed 's/^/    /' >&2
    failed=1
fi
[ "$failed" -eq 0 ] || exit 1
printf 'frozen self-test passed in %d ms (%s)\n' "$millis" "$(python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(', '.join(f'{k} {v:.1f} s' for k, v in r['timings'].items()))" "$work/out/result.json")"
