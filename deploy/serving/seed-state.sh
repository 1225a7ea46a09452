#!/bin/sh
# Seeds the rollout state folder (compose's rollout-state volume) on every start of the stack:
#   seed-state.sh DEFAULTS STATE OWNER
# The live models.config is copied from the tracked default only when missing, so what the rollout
# tool wrote survives restarts; the folder is then handed to OWNER, the uid the tools run as.
# Plain POSIX sh: it runs in busybox.
set -eu
defaults=$1
state=$2
owner=$3
mkdir -p "$state/gate"
if [ ! -f "$state/models.config" ]; then
  # Copy, then rename: Serving never sees half a file.
  cp "$defaults/models.config" "$state/.models.config.seed"
  mv "$state/.models.config.seed" "$state/models.config"
  echo "seeded $state/models.config from $defaults/models.config"
fi
chown -R "$owner:$owner" "$state"
