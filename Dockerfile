# nodex image in the Prometheus convention: a prebuilt static binary on an empty base.
# Build the binary and the image with scripts/build-image.sh.
FROM scratch
ARG NODEX_BINARY=.build/nodex
LABEL org.opencontainers.image.title="nodex" \
      org.opencontainers.image.description="Host (node_exporter) and container (cAdvisor) metrics for Prometheus from one binary" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.documentation="README.md" \
      io.prometheus.image.variant="scratch"
COPY ${NODEX_BINARY} /bin/nodex
USER 65534:65534
EXPOSE 9100
ENTRYPOINT ["/bin/nodex"]
