#!/usr/bin/env bash
# clang-format over sluice's C sources, with the checked-in .clang-format.
#
#   scripts/format.sh           format every file in place
#   scripts/format.sh --check   change nothing; list the files clang-format would change
#                               and exit 1 if there is any (0 when all are formatted)
#
# The files: *.c and *.h under src processors tools include tests bench (tracked by
# git, or all of them outside a git checkout).  CLANG_FORMAT names the binary (default
# clang-format; scripts/install-deps.sh installs it).
set -euo pipefail

cd "$(dirname "$0")/.."
CLANG_FORMAT=${CLANG_FORMAT:-clang-format}
DIRS=(src processors tools include tests bench)

usage() {
        echo "usage: scripts/format.sh [--check]" >&2
        exit 2
}
check=0
case "${1:-}" in
"") ;;
--check) check=1 ;;
-h | --help) usage ;;
*) usage ;;
esac
[ $# -le 1 ] || usage

command -v "$CLANG_FORMAT" >/dev/null 2>&1 ||
        { echo "format.sh: $CLANG_FORMAT not found (scripts/install-deps.sh installs it)" >&2; exit 2; }
[ -f .clang-format ] || { echo "format.sh: no .clang-format in $(pwd)" >&2; exit 2; }

files=()
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        while IFS= read -r -d '' f; do files+=("$f"); done \
                < <(git ls-files -z -- "${DIRS[@]/%//*.c}" "${DIRS[@]/%//*.h}")
else
        while IFS= read -r -d '' f; do files+=("$f"); done \
                < <(find "${DIRS[@]}" -type f \( -name '*.c' -o -name '*.h' \) -print0 | sort -z)
fi
[ ${#files[@]} -gt 0 ] || { echo "format.sh: no C files found" >&2; exit 2; }

if [ $check -eq 0 ]; then
        "$CLANG_FORMAT" -i --style=file "${files[@]}"
        echo "format.sh: formatted ${#files[@]} files" >&2
        exit 0
fi

bad=()
for f in "${files[@]}"; do
        # --dry-run -Werror: non-zero when the file would change (clang-format >= 10).
        "$CLANG_FORMAT" --style=file --dry-run -Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if [ ${#bad[@]} -gt 0 ]; then
        printf '%s\n' "${bad[@]}"
        echo "format.sh: ${#bad[@]} of ${#files[@]} files are not clang-formatted" \
             "(scripts/format.sh formats them)" >&2
        exit 1
fi
echo "format.sh: all ${#files[@]} files are clang-formatted" >&2
