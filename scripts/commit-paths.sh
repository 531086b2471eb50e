#!/usr/bin/env bash
# Commits only the given paths (others' staged work stays out), serialised across parallel workers.
# usage: scripts/commit-paths.sh "message" path [path...]
set -euo pipefail
msg=$1; shift
exec 9>/tmp/zeone-git.lock
flock 9
git add -A -- "$@"
if git diff --cached --quiet -- "$@"; then echo "nothing to commit in $*"; exit 0; fi
git commit -q -m "$msg" -- "$@"
git log --oneline -1
