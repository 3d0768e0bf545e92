#!/bin/sh
# Runs a compiled entry point (dist/server.js, dist/scripts/worker.js) with production's memory
# settings; `npm run start:production`, `npm run worker:production` and the bench use it.
#
# Node 22 and later size V8's young generation from the machine's memory (64 MB semi-spaces on
# a 24 GiB host) and let the old space grow towards a 4 GB limit before a full collection, and
# glibc gives each thread its own malloc arena: under load the service held 489 MB resident, of
# which about 50 MB live objects. These settings hold it at 218-239 MB for 0.01-0.04 ms more
# CPU per small request (bench/results/2026-12-05-issue19-memory.md). The old-space cap is five
# times the live heap; raise it (NODE_MAX_OLD_SPACE_MB) on instances with memory to spare.
#
# A limit already set in NODE_OPTIONS is the operator's and wins (a flag here would override it).
# NODE names the binary (npm sets it to its own Node).
old_space_mb="${NODE_MAX_OLD_SPACE_MB:-256}"
case "$old_space_mb" in
  '' | *[!0-9]*)
    echo "NODE_MAX_OLD_SPACE_MB must be a whole number of megabytes, got '$old_space_mb'" >&2
    exit 64
    ;;
esac
v8_limits=
for limit in max-semi-space-size=8 "max-old-space-size=$old_space_mb"; do
  case " ${NODE_OPTIONS:-} " in
    *"--${limit%%=*}"*) ;;
    *) v8_limits="$v8_limits --$limit" ;;
  esac
done
export MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-2}"
# The limits are words of letters, digits and dashes (the cap was checked above): split on purpose.
# shellcheck disable=SC2086
exec "${NODE:-node}" $v8_limits --enable-source-maps "$@"
