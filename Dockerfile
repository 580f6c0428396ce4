# Build image for vst on Debian 12: the same packages tests/run.sh installs.
# The daemons are meant to run as separate users (vst-key, vst-data) on one
# host; see docs/architecture.md. This image builds the programs and runs
# the test suite: docker build -t vst . && docker run --rm vst
FROM debian:12
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config clang libclang-rt-14-dev libssl-dev openssl \
      libmicrohttpd-dev gnutls-bin libpq-dev postgresql-15 postgresql-client-15 \
      libjansson-dev libcunit1-dev libgfshare-dev libgfshare-bin libseccomp-dev curl ca-certificates \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo && cmake --build build/release -j"$(nproc)"
CMD ["./tests/run.sh"]
