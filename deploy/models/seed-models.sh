#!/bin/sh
# Copies model versions onto a volume:  seed-models.sh SRC DST
# Each complete version folder of SRC (a name of digits holding saved_model.pb, the rule Serving,
# the gateway and the rollout tool share) is copied into DST unless DST already has that version,
# so versions the trainer exported there later are never touched. A copy is assembled under a
# hidden staging name and renamed into place: Serving never sees half a version.
# Plain POSIX sh: it runs in busybox (deploy/models/Dockerfile).
set -eu
src=$1
dst=$2
mkdir -p "$dst"
for dir in "$src"/*; do
  version=$(basename "$dir")
  case "$version" in
    *[!0-9]*) continue ;;
  esac
  [ -f "$dir/saved_model.pb" ] || continue
  if [ -e "$dst/$version" ]; then
    echo "version $version already in $dst"
    continue
  fi
  staging="$dst/.staging-seed-$version"
  rm -rf "$staging"
  cp -R "$dir" "$staging"
  mv "$staging" "$dst/$version"
  echo "seeded version $version into $dst"
done
