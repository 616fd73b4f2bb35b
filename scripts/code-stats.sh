#!/usr/bin/env bash
# Code-shape figures for a review: the largest Rust files, the longest functions and the
# number of `pub` items per crate. Usage: bash scripts/code-stats.sh [DIR] (default: the
# workspace). Counts lines of source as written, tests included.
set -eu
root="${1:-$(cd "$(dirname "$0")/.." && pwd)}"
cd "$root"
files=$(find . -name '*.rs' -not -path './target/*' -not -path './.git/*' | sort)

echo "largest files (lines):"
# shellcheck disable=SC2086
wc -l $files | grep -v ' total$' | sort -rn | head -5

echo "longest functions (lines, from \`fn\` to its closing brace at the same indentation):"
# shellcheck disable=SC2086
awk '
  FNR == 1 { open = 0 }
  !open && match($0, /^ *(pub(\([a-z]+\))? )?(const )?(async )?fn [A-Za-z_0-9]+/) {
    indent = match($0, /[^ ]/) - 1; name = $0; sub(/^.*fn /, "", name); sub(/[(<].*/, "", name)
    start = FNR; open = 1; file = FILENAME
    if ($0 ~ /;$/ || $0 ~ /\}$/) { open = 0 }
    next
  }
  open && match($0, /^ *\}/) && (match($0, /[^ ]/) - 1) == indent {
    printf "%6d %s:%d %s\n", FNR - start + 1, file, start, name; open = 0
  }
' $files | sort -rn | head -5

echo "pub items per crate (pub fn/struct/enum/const/static/type/trait/mod, fields not counted):"
for crate in pacer-domain pacer-store pacer-aws pacer-server pacer-web; do
  [ -d "$crate/src" ] || continue
  n=$(grep -rhE '^ *pub (async )?(fn|struct|enum|const|static|type|trait|mod) ' "$crate/src" | wc -l)
  printf '%6d %s\n' "$n" "$crate"
done
