# syntax=docker/dockerfile:1
# The meshes-operator image for users with a container engine. CI builds the same image
# without one (testenv/scripts/build-image.sh: the same static binary, CA bundle and user,
# written as an OCI layout by testenv/go/imagebuild); docs/install.md, "Container image".
#
#   docker build -t ghcr.io/meshes-operator/meshes-operator:0.1.0 .
#
# Stage 1: a statically linked binary (musl; aws-lc-sys and ring need a C compiler for musl).
FROM rust:1.95-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && rustup target add x86_64-unknown-linux-musl
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    CC_x86_64_unknown_linux_musl=musl-gcc \
    cargo build --locked --profile image --target x86_64-unknown-linux-musl \
      -p meshes-operator --bin meshes-operator \
 && cp target/x86_64-unknown-linux-musl/image/meshes-operator /meshes-operator \
 && printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/nonexistent:/sbin/nologin\n' > /passwd \
 && printf 'root:x:0:\nnonroot:x:65532:\n' > /group

# Stage 2: nothing but the binary, the CA bundle and the user: no shell, no package manager.
FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /passwd /etc/passwd
COPY --from=build /group /etc/group
COPY --from=build /meshes-operator /usr/local/bin/meshes-operator
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/meshes-operator"]
CMD ["run"]
