# syntax=docker/dockerfile:1
# HyperFaaS images, from one multi-stage build:
#   docker build --target watchdog -t ghcr.io/hyperfaas/watchdog:0.1.0 .   (function templates COPY --from it)
#   docker build --target provider -t ghcr.io/hyperfaas/provider:0.1.0 .   (the default, last stage)
# NOTE: written without a Docker engine at hand (none on the build machines), so this file has not been built yet;
# the manifests in yaml/ and the stack templates reference these two images and paths.

ARG NODE_VERSION=20

# ---- build: all dependencies, compile the watchdog (an npm workspace, watchdog/dist) and then the provider (dist/),
# which imports the watchdog's shared modules by package name
FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
COPY watchdog/package.json ./watchdog/
RUN npm ci --no-audit --no-fund --loglevel=error
COPY tsconfig.json ./
COPY src ./src
COPY watchdog ./watchdog
# Compile only what ships (the repo tsconfig also includes test/ and bench/, and references the watchdog's tests).
RUN npx tsc -b watchdog \
 && printf '{"extends":"./tsconfig.json","include":["src"],"references":[{"path":"watchdog"}]}\n' > tsconfig.build.json \
 && npx tsc -p tsconfig.build.json --outDir dist
# The watchdog's spawn helper for the forking modes, static (it runs in the alpine image and in any function's root).
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends gcc libc6-dev >/dev/null \
 && mkdir -p watchdog/dist/native && gcc -O2 -static -o watchdog/dist/native/hf-spawn watchdog/native/hf-spawn.c

# ---- prod-deps: the provider's runtime dependencies only, from the lock file (node_modules/@hyperfaas/watchdog is
# the workspace's link to ../../watchdog, filled in the provider stage)
FROM node:${NODE_VERSION}-bookworm-slim AS prod-deps
WORKDIR /app
COPY package.json package-lock.json ./
COPY watchdog/package.json ./watchdog/
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error

# ---- watchdog: what function images copy (/opt/hyperfaas/watchdog: package.json, dist/src, node_modules, runtime).
# Its two dependencies (@nats-io/transport-node, prom-client) are resolved from watchdog/package.json here.
FROM node:${NODE_VERSION}-alpine AS watchdog
WORKDIR /opt/hyperfaas/watchdog
COPY watchdog/package.json ./
RUN npm install --omit=dev --ignore-scripts --no-package-lock --no-audit --no-fund --loglevel=error \
 && npm cache clean --force
COPY --from=build /app/watchdog/dist/src ./dist/src
COPY --from=build /app/watchdog/dist/native ./dist/native
COPY watchdog/runtime ./runtime
RUN addgroup -S -g 10001 app && adduser -S -u 10001 -G app app
USER app
EXPOSE 8080 8081
CMD ["node", "/opt/hyperfaas/watchdog/dist/src/main.js"]

# ---- provider: the faas-provider API and global scheduler, non-root, listening on 8081 like faas-netes
FROM node:${NODE_VERSION}-bookworm-slim AS provider
ENV NODE_ENV=production
WORKDIR /app
RUN groupadd --gid 10001 app && useradd --uid 10001 --gid app --no-create-home --shell /usr/sbin/nologin app
COPY --from=prod-deps /app/node_modules ./node_modules
COPY package.json ./
COPY watchdog/package.json ./watchdog/
COPY --from=build /app/watchdog/dist/src ./watchdog/dist/src
COPY --from=build /app/dist ./dist
# uid 10001 matches runAsUser in yaml/base/provider.yaml (the kubelet needs a numeric user for runAsNonRoot).
USER app
EXPOSE 8081
CMD ["node", "dist/src/main.js"]
