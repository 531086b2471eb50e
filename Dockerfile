# ZEONE-TS node image. Build: docker build -t zeone .   Run:
#   docker run -d --name zeone -p 8468:8468/tcp -p 8468:8468/udp -v zeone-data:/data zeone
# /data holds identity.key and ledger.sqlite (identity and money): keep the volume and back it up.
# The HTTP API (metrics, dashboard, chat) listens on 127.0.0.1 inside the container unless ZEONE_OPS__HTTP_HOST says
# otherwise; publish it only to a trusted network (-p 127.0.0.1:9468:9468 with ZEONE_OPS__HTTP_HOST=0.0.0.0).
FROM node:20-bookworm-slim AS build
# better-sqlite3 and sodium-native build from source when no prebuilt binary matches
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci
COPY tsconfig.json ./
COPY src ./src
COPY bin ./bin
COPY contracts ./contracts
RUN npx tsc -p tsconfig.json && npm prune --omit=dev

FROM node:20-bookworm-slim
RUN useradd --system --uid 10001 --home /data zeone && mkdir -p /data && chown zeone /data
WORKDIR /app
COPY --from=build /app /app
USER zeone
ENV ZEONE_DATA_DIR=/data
EXPOSE 8468/tcp 8468/udp
VOLUME ["/data"]
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s CMD node -e "fetch('http://127.0.0.1:9468/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
ENTRYPOINT ["node", "/app/bin/zeone.js"]
CMD ["start"]
