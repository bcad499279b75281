# syntax=docker/dockerfile:1
#
# tollgate sidecar image.
#   docker build -t tollgate:0.1.0 .                      the sidecar (default target: runtime)
#   docker build --target worker -t tollgate-worker .     the example document worker (dev dependencies, tsx)
#
# Base image pinned by version. To pin by digest too, resolve it once and append it:
#   docker buildx imagetools inspect node:22.20.0-bookworm-slim   ->   FROM node:22.20.0-bookworm-slim@sha256:<digest>
ARG NODE_IMAGE=node:22.20.0-bookworm-slim

# ---------------------------------------------------------------------------------------------
# deps: every dependency, with native modules compiled (better-sqlite3 falls back to node-gyp
# when no prebuilt binary matches, so the toolchain is here; it never reaches the runtime image).
FROM ${NODE_IMAGE} AS deps
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
COPY package.json package-lock.json ./
# --ignore-scripts keeps `prepare` (tsc) from running before the sources are here; the two
# packages whose install scripts matter are rebuilt explicitly.
RUN --mount=type=cache,target=/root/.npm \
    npm ci --ignore-scripts \
 && npm rebuild better-sqlite3 esbuild

# ---------------------------------------------------------------------------------------------
# build: compile TypeScript (tsc also copies the imported price table to dist/metering/prices.json;
# scripts/copy-assets.mjs the Redis store's Lua scripts), then drop dev dependencies.
FROM deps AS build
COPY tsconfig.json ./
COPY scripts/copy-assets.mjs ./scripts/
COPY src ./src
RUN npm run build \
 && test -f dist/metering/prices.json \
 && test -f dist/state/redis/scripts/admit.lua \
 && test -f dist/telemetry/register.js \
 && npm prune --omit=dev

# ---------------------------------------------------------------------------------------------
# worker: the example document worker (examples/document-worker), run with tsx like `npm run worker`.
# Used by docker-compose.yml; not the image to ship.
FROM deps AS worker
COPY tsconfig.json ./
COPY src ./src
COPY examples ./examples
RUN mkdir -p /data/out && chown node:node /data/out
ENV NODE_ENV=production
USER node
CMD ["npm", "run", "worker", "--", "/data/documents", "--out", "/data/out"]

# ---------------------------------------------------------------------------------------------
# runtime: dist/, production node_modules and package.json only.
FROM ${NODE_IMAGE} AS runtime
# Inside a container the pod's network namespace is the boundary: listen on every interface.
# (Set in the process environment, so it wins over an env file's HOST=127.0.0.1.) PORT, STATE_URL
# and STATE_SPOOL_DIR keep their defaults (8790, sqlite:./data/tollgate.db, ./data/spool under /app).
ENV NODE_ENV=production \
    HOST=0.0.0.0
WORKDIR /app
COPY --from=build --chown=root:root /app/package.json ./package.json
COPY --from=build --chown=root:root /app/node_modules ./node_modules
COPY --from=build --chown=root:root /app/dist ./dist
# The only writable place: state (sqlite), the ledger spool. The code and the price table stay root-owned.
RUN mkdir -p /app/data/spool && chown -R node:node /app/data
VOLUME ["/app/data"]
USER node
EXPOSE 8790
# No curl in slim images: Node's own fetch asks /readyz (503 while draining or without usable state).
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8790)+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# SIGTERM drains in-flight requests for up to SHUTDOWN_GRACE_MS (default 10 s), so stop timeouts
# (docker stop -t, compose stop_grace_period) should be longer than that.
STOPSIGNAL SIGTERM
CMD ["node", "--enable-source-maps", "--import", "./dist/telemetry/register.js", "dist/cli.js", "serve"]
