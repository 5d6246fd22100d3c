#!/usr/bin/env bash
# Render every stack of two checkouts and diff them (the render-diff workflow runs this).
#
#   render-diff.sh BASE_DIR HEAD_DIR PYTHON OUT_DIR
#   render-diff.sh --failed OUT_DIR WHAT     when no comment was written (e.g. the install failed):
#                                            write one saying WHAT failed, with the tail of OUT_DIR/*.log
#
# Each checkout renders with its own `components` package (`python -m components render STACK`
# run inside it), for every stack of either (.github/scripts/stacks.py: its Pulumi.<stack>.yaml
# files). Writes into OUT_DIR:
#   base/<stack>/, head/<stack>/   the renders (a stack missing on one side stays empty)
#   errors/<side>-<stack>          a failed render's stderr (the comment shows its last lines; that
#                                  stack is left out of the diff rather than shown as all removed)
#   render.diff                    `diff -ruN base head`
#   summary.md                     for $GITHUB_STEP_SUMMARY (the whole diff, up to 900 kB)
#   comment.md                     for the pull request comment (fits GitHub's 65536 characters)
# Exits 1 when the head cannot be rendered (e.g. an invalid stack config), after writing the files.
set -euo pipefail

MARKER="<!-- docker-in-workspaces:render-diff -->"
TAIL_LINES=40

header() {
  echo "$MARKER"
  echo "### Rendered stacks: base → head"
  echo
}

# A failed step's explanation, when the render never got to write its comment.
if [ "${1:-}" = --failed ]; then
  out=$2 what=$3
  mkdir -p "$out"
  [ -s "$out/comment.md" ] && exit 0
  {
    header
    echo "**The render failed: $what.** There is no diff; last lines of the job's output:"
    echo
    echo '```'
    found=0
    for log in "$out"/*.log; do
      [ -s "$log" ] || continue
      found=1
      echo "== $(basename "$log")"
      tail -n "$TAIL_LINES" "$log"
    done
    [ "$found" = 1 ] || echo "(nothing was logged: see the job's log)"
    echo '```'
  } >"$out/comment.md"
  cp "$out/comment.md" "$out/summary.md"
  exit 0
fi

base=$(cd "$1" && pwd)
head=$(cd "$2" && pwd)
python=$(cd "$(dirname "$3")" && pwd)/$(basename "$3")
mkdir -p "$4"
out=$(cd "$4" && pwd)
rm -rf "$out/base" "$out/head" "$out/errors" "$out/comment.md" "$out/summary.md"
mkdir -p "$out/base" "$out/head" "$out/errors"

# The head's stack lister, over both checkouts (the base may predate it).
listed=$("$python" "$(dirname "${BASH_SOURCE[0]}")/stacks.py" "$base" "$head")
mapfile -t stacks <<<"$listed"
[ -n "$listed" ] || stacks=()

head_failed=0
render() { # side checkout stack
  local side=$1 checkout=$2 stack=$3
  mkdir -p "$out/$side/$stack"
  [ -f "$checkout/Pulumi.$stack.yaml" ] || return 0
  if [ ! -f "$checkout/components/render.py" ]; then
    echo "the $side has no renderer (components/render.py): its side of the diff is empty" >"$out/errors/$side-$stack"
    return 0
  fi
  if ! (cd "$checkout" && "$python" -m components render "$stack" --out "$out/$side/$stack") \
    >/dev/null 2>"$out/errors/$side-$stack.log"; then
    mv "$out/errors/$side-$stack.log" "$out/errors/$side-$stack"
    [ "$side" = head ] && head_failed=1
    return 1
  fi
  rm -f "$out/errors/$side-$stack.log"
}
for stack in "${stacks[@]}"; do
  ok=1
  render base "$base" "$stack" || ok=0
  render head "$head" "$stack" || ok=0
  if [ "$ok" = 0 ]; then
    # A failed side would show as every file added or removed: leave that stack out of the diff.
    rm -rf "${out:?}/base/$stack" "${out:?}/head/$stack"
    mkdir -p "$out/base/$stack" "$out/head/$stack"
  fi
done

# File times say nothing here: drop them from the ---/+++ lines.
(cd "$out" && diff -ruN base head | sed -E 's/^(---|\+\+\+) ([^\t]*)\t.*$/\1 \2/' >render.diff) || true

write_md() { # limit_in_bytes
  local limit=$1 size f list=""
  header
  for f in "${stacks[@]}"; do list+="${list:+, }\`$f\`"; done
  echo "Stacks: ${list:-(none)}. Rendered with \`python -m components render\` under Pulumi's mocks"
  echo "(no credentials, no cluster); secrets show as \`[secret]\`."
  echo
  local failed=0
  for f in "$out"/errors/*; do
    [ -f "$f" ] || continue
    failed=1
    echo "**$(basename "$f") failed** (its stack is left out of the diff; last lines of its stderr):"
    echo '```'
    tail -n "$TAIL_LINES" "$f"
    echo '```'
  done
  size=$(wc -c <"$out/render.diff")
  if [ "$size" -eq 0 ]; then
    if [ "$failed" = 1 ]; then
      echo "No changes in the stacks that rendered."
    else
      echo "No changes in the rendered Kubernetes manifests, compose files or security reports."
    fi
    return
  fi
  echo "Files changed: $(grep -c '^diff ' "$out/render.diff" || true)."
  echo
  echo '```diff'
  if [ "$size" -le "$limit" ]; then
    cat "$out/render.diff"
  else
    head -c "$limit" "$out/render.diff" | sed '$d'
    echo "... (cut at $limit of $size bytes: the whole diff is in the job summary and the render-diff artifact)"
  fi
  echo '```'
}
write_md 900000 >"$out/summary.md"
write_md 60000 >"$out/comment.md"
exit "$head_failed"
