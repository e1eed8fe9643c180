# syntax=docker/dockerfile:1
# The example app (examples/hello_app.mjs) served by gunicorn-ts:
#   docker build -t foobar .
#   docker run -p 8000:8000 -d foobar        # then open http://127.0.0.1:8000/
#   docker rm -f <container>
# Both stages run the steps in docker/image.sh, which test/image.test.mjs also runs to build the same runtime
# filesystem from Debian's packages (no container engine needed to test it).
ARG NODE_IMAGE=node:20.20-bookworm-slim

# ---- build: compiler, llhttp's sources (Debian's node-llhttp), the addon and the TypeScript
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY docker/image.sh docker/image.sh
RUN sh docker/image.sh build-deps
COPY package.json package-lock.json binding.gyp tsconfig.json ./
COPY scripts/ scripts/
COPY native/ native/
COPY lib/ lib/
RUN sh docker/image.sh build
COPY bin/ bin/
COPY examples/ examples/

# ---- runtime: node and the built server only (no compiler, no npm cache), as a non-root user
FROM ${NODE_IMAGE}
COPY docker/image.sh /tmp/image.sh
RUN sh /tmp/image.sh runtime-user && rm /tmp/image.sh
WORKDIR /app
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules/ node_modules/
COPY --from=build /src/build/Release/gunicorn_native.node build/Release/gunicorn_native.node
COPY --from=build /src/dist/ dist/
COPY --from=build /src/bin/ bin/
COPY --from=build /src/examples/ examples/
USER app
# Gunicorn's rule: with $PORT set the default bind is 0.0.0.0:$PORT (an explicit --bind wins).
ENV PORT=8000 NODE_ENV=production
EXPOSE 8000
# docker stop sends STOPSIGNAL, then SIGKILL after 10 s (--stop-timeout / compose stop_grace_period):
# keep graceful_timeout (default 30 s) below that grace, e.g. --graceful-timeout 8, or raise the grace.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8000) + '/').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# exec form: the master is PID 1 (it forwards nothing: it handles TERM/INT/HUP/... itself and reaps orphans)
ENTRYPOINT ["node", "bin/gunicorn-ts.js"]
CMD ["--workers", "2", "--graceful-timeout", "8", "--access-logfile", "-", "examples.hello_app:app"]
