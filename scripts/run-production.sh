#!/bin/sh
# Runs a compiled entry point (dist/server.js, dist/scripts/worker.js) with production's memory
# settings; `npm run start:production`, `npm run worker:production` and the bench use it.
#
# Node 22 and later size V8's young generation from the machine's memory (64 MB semi-spaces on
# a 24 GiB host) and let the old space grow towards a 4 GB limit before a full collection, and
# glibc gives each thread its own malloc arena: under load the service held 489 MB resident, of
# which about 50 MB live objects. These settings hold it near 215 MB for about 0.03 ms more CPU
# per small request (bench/results/2026-12-05-issue19-memory.md). The old-space cap is five
# times the live heap; raise it (NODE_MAX_OLD_SPACE_MB) on instances with memory to spare.
export MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-2}"
exec "${NODE:-node}" --max-semi-space-size=8 \
  --max-old-space-size="${NODE_MAX_OLD_SPACE_MB:-256}" --enable-source-maps "$@"
