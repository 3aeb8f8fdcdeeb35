#!/usr/bin/env bash
# scratchpack's benchmarks, each run side by side with the tool it is compared to
# (hyperfine, warm caches), printing times, ratios and sizes. Numbers go in README.md.
#
#   benches/bench.sh            both benchmarks
#   benches/bench.sh package    package a 64 MiB static binary vs tar|gzip, tar|pigz, umoci
#   benches/bench.sh inspect    inspect /usr/lib vs scanelf -R; a 10 MB image, with
#                               SP_BEFORE=/path/to/an/older/scratchpack that one too
#   benches/bench.sh build      cold and warm builds of C (zig) and Go, in the sandbox,
#                               without it (--no-sandbox), and the bare compiler
#   benches/bench.sh projects   real projects (tree, pv, zstd from Debian's sources): the
#                               sandboxed build against the same build run natively
#                               with the same zig; the rebuild of an unchanged project
#                               against make's own no-op (BENCH_PROJECTS="zstd" for
#                               some of them)
#   benches/bench.sh platforms  hello.c for six platforms: one `--platform` build against
#                               six single-platform builds one after the other, warm
#                               (zig's libc built for every target) and cold (once)
#   benches/bench.sh push       a 64 MiB image pushed to a loopback docker-registry:
#                               scratchpack push against skopeo copy oci-archive: and
#                               podman push (empty registry each run), then the re-push
#                               of the unchanged image; against Debian 12's registry
#                               storing on disk, then Debian 13's (the same registry
#                               built with a newer Go, fetched with apt into the bench's
#                               directory) storing in tmpfs
#   benches/bench.sh run        `scratchpack run hello.tar` against `podman run` of the
#                               same image (loaded beforehand)
#   benches/bench.sh cache      the build cache: hello.c, hello.go and a real project
#                               (tree, from Debian's sources) built warm (compiled),
#                               no-op (the local build cache) and from a loopback
#                               registry (another cache directory: --cache-from)
#   benches/bench.sh lookup     warm builds of hello.c by where zig is: on PATH (search
#                               remembered or not), fetched into the cache; with
#                               SP_BEFORE=/path/to/an/older/scratchpack, that one too
#                               (zig on PATH, and zig through the ziglang Python package)
#
# Needs: hyperfine, gzip, pigz, umoci, scanelf (pax-utils), musl-gcc, objcopy, go, python3,
# docker-registry, skopeo, podman with runc
# (.ci/run installs them all; zig is fetched by scratchpack) and ../shared/alpine (the
# rootfs mirror).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
SP="$PWD/target/release/scratchpack"
WORK=$(mktemp -d /var/tmp/scratchpack-bench.XXXXXX)
# On exit, however it comes: the registry running stopped, the bench's directories removed.
registry_pid="" shm_dir=""
cleanup() {
    [ -z "$registry_pid" ] || kill "$registry_pid" 2>/dev/null || true
    rm -rf "$WORK" ${shm_dir:+"$shm_dir"}
}
trap cleanup EXIT
what=${1:-all}

# $WORK/big: a static hello world carrying 64 MiB of real machine code (this machine's
# shared libraries) in an extra section: compresses like a large real binary.
big_binary() {
    [ -f "$WORK/big" ] && return
    printf '#include <stdio.h>\nint main(void){puts("hi");return 0;}\n' > "$WORK/hi.c"
    musl-gcc -static -Os -s -o "$WORK/hi" "$WORK/hi.c"
    local want=$((64 * 1024 * 1024 - $(stat -c %s "$WORK/hi") - 4096))
    # `head` closes the pipe early on purpose.
    (set +o pipefail
     find /usr/lib/x86_64-linux-gnu -maxdepth 1 -name '*.so*' -type f | LC_ALL=C sort \
        | xargs cat 2>/dev/null | head -c "$want" > "$WORK/payload")
    objcopy --add-section .payload="$WORK/payload" "$WORK/hi" "$WORK/big"
    rm "$WORK/payload"
}

# Starts docker-registry on 127.0.0.1:PORT, its config and log in DIR (plain HTTP,
# quiet); Debian 12's unless a third argument names another registry executable; its
# storage in DIR/data unless a fourth argument names another directory. Sets
# registry_pid (stopped on exit by cleanup).
start_registry() {
    local reg=$1 port=$2 bin=${3:-docker-registry} data=${4:-$1/data}
    mkdir -p "$reg"
    printf 'version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' \
        "$data" "$port" > "$reg/config.yml"
    "$bin" serve "$reg/config.yml" 2>"$reg/log" &
    registry_pid=$!
    sleep 1
    kill -0 "$registry_pid" || { cat "$reg/log"; exit 1; }
}

# The same registry (distribution 2.8.3) as Debian 13 ships it, built with Go 1.24, whose
# SHA-256 uses the CPU's SHA instructions (Debian 12's, Go 1.19, does not): fetched with
# apt from Debian's trixie suite (signatures checked against Debian's keyring) into
# $WORK, never installed. Prints its path; prints nothing when it cannot be fetched.
newer_registry() {
    local apt="$WORK/apt"
    mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$WORK/trixie"
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main" \
        > "$apt/sources.list"
    local opts=(-o "Dir::Etc::SourceList=$apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
                -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache" -o APT::Sandbox::User=root)
    (cd "$WORK/trixie" && apt-get "${opts[@]}" update -qq && apt-get "${opts[@]}" download -qq docker-registry) \
        >/dev/null 2>&1 || return 0
    dpkg-deb -x "$WORK"/trixie/docker-registry_*.deb "$WORK/trixie/root"
    echo "$WORK/trixie/root/usr/bin/docker-registry"
}

bench_package() {
    echo "== package: a 64 MiB static binary into an image"
    big_binary
    ls -l "$WORK/big"
    "$SP" inspect "$WORK/big"

    cd "$WORK"
    hyperfine --warmup 1 --runs 5 --export-markdown "$WORK/package.md" \
        -n scratchpack "$SP package big -o big.tar -q" \
        -n 'tar | gzip -6 | sha256sum' 'tar cf - big | gzip -6 | sha256sum' \
        -n 'tar | pigz -6 | sha256sum' 'tar cf - big | pigz -6 | sha256sum' \
        -p 'true' -p 'true' -p 'true' \
        -p 'rm -rf layout && umoci init --layout layout && umoci new --image layout:bench' \
        -n 'umoci insert' "umoci insert --image layout:bench $WORK/big /big"
    cd - >/dev/null

    local ours gz pz
    ours=$(python3 - "$WORK/big.tar" <<'EOF'
import json, sys, tarfile
t = tarfile.open(sys.argv[1])
idx = json.load(t.extractfile("index.json"))
m = json.load(t.extractfile("blobs/sha256/" + idx["manifests"][0]["digest"][7:]))
print(m["layers"][0]["size"])
EOF
)
    gz=$(tar -C "$WORK" -cf - big | gzip -6 | wc -c)
    pz=$(tar -C "$WORK" -cf - big | pigz -6 | wc -c)
    echo
    echo "compressed layer: scratchpack $ours bytes, gzip -6 $gz bytes, pigz -6 $pz bytes"
    python3 -c "print(f'scratchpack layer vs gzip -6: {($ours / $gz - 1) * 100:+.2f}%')"
    echo
}

bench_inspect() {
    echo "== inspect: every ELF file under /usr/lib"
    echo "files: $(find /usr/lib -type f | wc -l), ELF files: $(scanelf -R /usr/lib 2>/dev/null | tail -n +2 | wc -l)"
    # Both exit non-zero (/usr/lib holds dynamic objects): -i keeps hyperfine going.
    hyperfine --warmup 2 --runs 10 -i --export-markdown "$WORK/inspect.md" \
        -n 'scratchpack inspect' "$SP inspect -q /usr/lib" \
        -n 'scanelf -R' 'scanelf -R /usr/lib'
    echo
    echo "== inspect: a 10 MB image (the go command, a 17 MB static Go binary)"
    # The start checks (and the strings they read) against the scratchpack before them.
    "$SP" package "$(readlink -f "$(command -v go)")" -o "$WORK/big10.tar" -q --name go
    ls -l "$WORK/big10.tar"
    local args=(-n 'scratchpack inspect (start checks)' "$SP inspect -q $WORK/big10.tar")
    if [ -n "${SP_BEFORE:-}" ]; then
        args+=(-n 'before the start checks' "$SP_BEFORE inspect -q $WORK/big10.tar")
    fi
    hyperfine --warmup 3 --runs 20 --export-markdown "$WORK/inspect-image.md" "${args[@]}"
    echo
}

bench_platforms() {
    echo "== platforms: hello.c for six platforms, one command against six"
    export SCRATCHPACK_ALPINE_MIRROR="file://$(cd ../shared/alpine && pwd)"
    export SCRATCHPACK_CACHE_DIR="$WORK/platforms"
    cp fixtures/hello.c "$WORK/hello.c"
    cd "$WORK"
    local six=(linux/amd64 linux/arm64 linux/arm/v7 linux/riscv64 linux/ppc64le linux/s390x)
    local list separate=""
    list=$(IFS=,; echo "${six[*]}")
    for p in "${six[@]}"; do
        separate+="$SP hello.c -o one.tar -q --toolchain zig --platform $p --no-build-cache; "
    done
    local together="$SP hello.c -o six.tar -q --toolchain zig --platform $list --no-build-cache"
    # Cold: zig builds musl and compiler-rt once per target into an empty zig cache (the
    # rootfs and zig itself stay: fetched by a first build).
    "$SP" hello.c -o one.tar -q --toolchain zig
    local forget="rm -rf $SCRATCHPACK_CACHE_DIR/tools/zig/zig"
    hyperfine --runs 1 --export-markdown "$WORK/platforms-cold.md" \
        -p "$forget" -n 'one build, six platforms (cold)' "$together" \
        -p "$forget" -n 'six builds, one after the other (cold)' "bash -c '$separate'"
    hyperfine --warmup 1 --runs 5 --export-markdown "$WORK/platforms-warm.md" \
        -n 'one build, six platforms (warm)' "$together" \
        -n 'six builds, one after the other (warm)' "bash -c '$separate'"
    ls -l six.tar
    unset SCRATCHPACK_CACHE_DIR
    cd - >/dev/null
    echo
}

# The zig scratchpack uses with the cache in $SCRATCHPACK_CACHE_DIR (fetched if need be).
zig_of_scratchpack() {
    "$SP" toolchains --json | python3 -c 'import json,sys; print([t for t in json.load(sys.stdin) if t["name"]=="zig"][0]["tool"]["path"])'
}

bench_lookup() {
    echo "== toolchain lookup: a warm build of hello.c, by where zig comes from"
    export SCRATCHPACK_ALPINE_MIRROR="file://$(cd ../shared/alpine && pwd)"
    export SCRATCHPACK_CACHE_DIR="$WORK/lookup"
    cp fixtures/hello.c "$WORK/hello.c"
    cd "$WORK"
    # No zig on PATH: the first build fetches the pinned release and warms zig's cache.
    PATH=/usr/bin:/bin "$SP" hello.c -o c.tar -q
    local fetched release
    fetched=$(PATH=/usr/bin:/bin zig_of_scratchpack)
    release=$(dirname "$(dirname "$fetched")")
    # A zig on PATH: the same files, linked from a directory of their own.
    mkdir -p "$WORK/host-bin"
    ln -sf "$fetched" "$WORK/host-bin/zig"
    local host="PATH=$WORK/host-bin:/usr/bin:/bin" none="PATH=/usr/bin:/bin"
    local args=(-n 'zig on PATH, search remembered' "$host $SP hello.c -o c.tar -q --no-build-cache"
                -n 'zig on PATH, search not remembered' "$host $SP hello.c -o c.tar -q --no-build-cache"
                -n 'no zig on the host: the fetched release' "$none $SP hello.c -o c.tar -q --no-build-cache")
    local prepare=(-p true -p "rm -rf $WORK/lookup/toolchains/found" -p true)
    if [ -n "${SP_BEFORE:-}" ]; then
        # The python3 a user has first on PATH (a pyenv shim, on this project's machines).
        local python="PATH=$(dirname "$(command -v python3)"):/usr/bin:/bin"
        args+=(-n 'before: zig on PATH' "$host $SP_BEFORE hello.c -o c.tar -q"
               -n 'before: zig through the ziglang Python package' \
                  "$python PYTHONPATH=$release $SP_BEFORE hello.c -o c.tar -q")
        prepare+=(-p true -p true)
    fi
    hyperfine --warmup 3 --runs 20 --export-markdown "$WORK/lookup.md" "${prepare[@]}" "${args[@]}"
    cd - >/dev/null
    echo
}

bench_build() {
    echo "== build: hello world in C (zig) and Go, in the sandbox"
    local mirror="file://$(cd ../shared/alpine && pwd)"
    export SCRATCHPACK_ALPINE_MIRROR="$mirror"
    cp fixtures/hello.c "$WORK/hello.c"
    cp fixtures/go/hello.go "$WORK/hello.go"
    cd "$WORK"
    # Cold: an empty cache (rootfs extraction, zig's libc build, Go's standard library).
    hyperfine --runs 1 --export-markdown "$WORK/build-cold.md" \
        -p "rm -rf $WORK/cold" -p "rm -rf $WORK/cold" \
        -n 'cold C (zig)' "SCRATCHPACK_CACHE_DIR=$WORK/cold $SP hello.c -o c.tar -q" \
        -n 'cold Go' "SCRATCHPACK_CACHE_DIR=$WORK/cold $SP hello.go -o go.tar -q"
    # Warm: the same cache every run. The sandbox's cost is sandboxed minus --no-sandbox.
    export SCRATCHPACK_CACHE_DIR="$WORK/warm"
    local zigcache="$WORK/warm/tools/zig/zig" zig
    "$SP" hello.c -o c.tar -q   # fetches zig when the host has none
    zig=$(zig_of_scratchpack)
    # Warm: compiled again (--no-build-cache); no-op: the build cache returns the binary.
    hyperfine --warmup 2 --runs 10 --export-markdown "$WORK/build-warm-c.md" \
        -n 'scratchpack hello.c (sandbox)' "$SP hello.c -o c.tar -q --no-build-cache" \
        -n 'scratchpack hello.c --no-sandbox' "$SP hello.c -o c.tar -q --no-sandbox" \
        -n 'scratchpack hello.c, no-op (build cache)' "$SP hello.c -o c.tar -q" \
        -n 'zig cc on the host' "ZIG_GLOBAL_CACHE_DIR=$zigcache $zig cc -target x86_64-linux-musl -Os -s -o hello hello.c"
    hyperfine --warmup 2 --runs 10 --export-markdown "$WORK/build-warm-go.md" \
        -n 'scratchpack hello.go (sandbox)' "$SP hello.go -o go.tar -q --no-build-cache" \
        -n 'scratchpack hello.go --no-sandbox' "$SP hello.go -o go.tar -q --no-sandbox" \
        -n 'scratchpack hello.go, no-op (build cache)' "$SP hello.go -o go.tar -q" \
        -n 'go build on the host' "CGO_ENABLED=0 GOCACHE=$WORK/warm/tools/go/go-build go build -trimpath -ldflags='-s -w -buildid=' -o hello hello.go"
    cd - >/dev/null
    echo
}

bench_projects() {
    echo "== projects: real builds in the sandbox vs the same build natively (same zig)"
    local mirror="file://$(cd ../shared/alpine && pwd)"
    export SCRATCHPACK_ALPINE_MIRROR="$mirror" SCRATCHPACK_CACHE_DIR="$WORK/projects-cache"
    local repo=${SCRATCHPACK_TOOLS_REPO:-}
    if [ -z "$repo" ]; then
        repo="$WORK/tools-repo"
        ALPINE_MIRROR="$mirror" scripts/tools-repo.sh "$repo"
    fi
    mkdir -p "$WORK/src"
    (cd "$WORK/src" && apt-get source --download-only -qq tree pv libzstd >/dev/null 2>&1)
    for t in "$WORK"/src/*.orig.tar.*; do
        case $t in *.asc) continue ;; esac
        tar -xf "$t" -C "$WORK/src"
    done
    "$SP" "$(ls -d "$WORK"/src/tree-*)" -o "$WORK/warmup.tar" -q --toolchain zig \
        --apk-repository "file://$repo" --apk-allow-untrusted   # fetches zig, warms its libc
    local zig zigcache="$WORK/projects-cache/tools/zig/zig"
    zig=$(zig_of_scratchpack)
    # The native build: the same compiler, flags and steps, on the host, in a fresh copy
    # (as scratchpack makes one), with zig's global cache warm and a fresh local one.
    local native="ZIG_GLOBAL_CACHE_DIR=$zigcache ZIG_LOCAL_CACHE_DIR=$WORK/native/zl \
        CC='$zig cc -target x86_64-linux-musl' AR='$zig ar' RANLIB='$zig ranlib' \
        CFLAGS=-O2 LDFLAGS='-static -s'"
    local name dir steps
    for name in ${BENCH_PROJECTS:-tree pv zstd}; do
        dir=$(ls -d "$WORK"/src/"$name"-*)
        case $name in
            pv) steps="./configure -q --host=x86_64-linux-musl --prefix=/usr --disable-shared --enable-static && make -j$(nproc)" ;;
            *) steps="make -j$(nproc)" ;;
        esac
        local sp="$SP $dir -o $WORK/$name.tar -q --toolchain zig --apk-repository file://$repo --apk-allow-untrusted"
        hyperfine --warmup 1 --runs 3 --export-markdown "$WORK/project-$name.md" \
            -p "$SP cache prune projects -q" \
            -p "rm -rf $WORK/native && mkdir $WORK/native && cp -a $dir $WORK/native/b" \
            -p true -p true -p true \
            -n "scratchpack $name, full build (sandbox, image included)" "$sp --no-build-cache" \
            -n "$name built natively (same zig, make on the host)" \
            "cd $WORK/native/b && env $native sh -c '$steps' >/dev/null 2>&1" \
            -n "scratchpack $name, unchanged (kept copy, image included)" "$sp --no-build-cache" \
            -n "$name: make's own no-op rebuild" "make -C $WORK/native/b -j$(nproc) >/dev/null" \
            -n "scratchpack $name, no-op (build cache, image included)" "$sp"
    done
    echo
}

bench_push() {
    echo "== push: a 64 MiB image to a loopback registry"
    big_binary
    "$SP" package "$WORK/big" -o "$WORK/big.tar" -q --tag big --no-sbom   # the image alone, as skopeo copies it
    ls -l "$WORK/big.tar"
    # podman with storage of its own, as the tests run it.
    printf '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n' > "$WORK/containers.conf"
    local podman="env CONTAINERS_CONF=$WORK/containers.conf podman --root $WORK/podman/root --runroot $WORK/podman/run --tmpdir $WORK/podman/tmp --storage-driver vfs"
    $podman load -q -i "$WORK/big.tar" >/dev/null
    export SCRATCHPACK_CACHE_DIR="$WORK/push-cache"
    # The layer blob, for curl.
    local layer
    layer=$(python3 - "$WORK/big.tar" <<'EOF'
import json, sys, tarfile
t = tarfile.open(sys.argv[1])
idx = json.load(t.extractfile("index.json"))
m = json.load(t.extractfile("blobs/sha256/" + idx["manifests"][0]["digest"][7:]))
print(m["layers"][0]["digest"][7:])
EOF
)
    tar -xf "$WORK/big.tar" -C "$WORK" "blobs/sha256/$layer"
    # Against Debian 12's registry storing on disk, as the tests run it: there the
    # registry is the floor (Go 1.19's SHA-256 without the CPU's SHA instructions, and
    # the fsync of every blob). Then against a registry that is not: the same registry
    # as Debian 13 builds it (Go 1.24) storing in memory (tmpfs), which measures the
    # clients.
    local newer
    newer=$(newer_registry)
    [ -n "$newer" ] || echo "(Debian 13's docker-registry could not be fetched: only Debian 12's is measured)"
    echo "-- registry: Debian 12's ($(go version "$(command -v docker-registry)" 2>/dev/null | awk '{print $2}')), storage on disk"
    push_against "$WORK/registry-debian12" 5099 docker-registry debian12 "$layer" "$podman" \
        "$WORK/registry-debian12/data"
    if [ -n "$newer" ]; then
        shm_dir=$(mktemp -d /dev/shm/scratchpack-bench.XXXXXX)
        echo "-- registry: Debian 13's ($(go version "$newer" 2>/dev/null | awk '{print $2}')), storage in tmpfs"
        push_against "$WORK/registry-debian13" 5097 "$newer" debian13 "$layer" "$podman" "$shm_dir/data"
        rm -rf "$shm_dir"
        shm_dir=""
    fi
    $podman system reset --force >/dev/null 2>&1 || true
    echo
}

# One registry's round of bench_push: NAME's registry executable BIN on PORT, storing in
# DATA.
push_against() {
    local reg=$1 port=$2 bin=$3 name=$4 layer=$5 podman=$6 data=$7
    start_registry "$reg" "$port" "$bin" "$data"
    # An empty registry before each run (and no memory of earlier pushes to mount from).
    local empty="rm -rf $data $SCRATCHPACK_CACHE_DIR/pushed"
    local to="127.0.0.1:$port/bench"
    # The registry's own floor: its layer alone, POST and a streamed PUT by curl (-T).
    cat > "$WORK/curl-put.sh" <<EOF
loc=\$(curl -s -i -X POST http://127.0.0.1:$port/v2/bench/curl/blobs/uploads/ | tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
curl -s -f -o /dev/null -T $WORK/blobs/sha256/$layer \\
    -H 'Content-Type: application/octet-stream' "\$loc&digest=sha256:$layer"
EOF
    hyperfine --runs 10 --export-markdown "$WORK/push-$name.md" \
        -p "$empty" -n 'curl: POST + streamed PUT of the layer alone' "sh $WORK/curl-put.sh" \
        -p "$empty" -n 'scratchpack push' "$SP push -q $WORK/big.tar $to/app:v1" \
        -p "$empty" -n 'skopeo copy oci-archive:' \
        "skopeo copy -q --dest-tls-verify=false oci-archive:$WORK/big.tar docker://$to/app:v1" \
        -p "$empty" -n 'podman push' "$podman push -q --tls-verify=false big:latest docker://$to/app:v1"
    "$SP" push -q "$WORK/big.tar" "$to/app:v1" >/dev/null
    hyperfine --warmup 2 --runs 20 -N --export-markdown "$WORK/repush-$name.md" \
        -n 'scratchpack push (unchanged image)' "$SP push -q $WORK/big.tar $to/app:v1" \
        -n 'skopeo copy (unchanged image)' \
        "skopeo copy -q --dest-tls-verify=false oci-archive:$WORK/big.tar docker://$to/app:v1"
    kill "$registry_pid" 2>/dev/null || true
    wait "$registry_pid" 2>/dev/null || true
    registry_pid=""
}

bench_run() {
    echo "== run: the hello image, started without a daemon"
    "$SP" package fixtures/hello-amd64 -o "$WORK/hello.tar" -q --tag hello
    printf '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n' > "$WORK/containers.conf"
    local podman="env CONTAINERS_CONF=$WORK/containers.conf podman --root $WORK/podman/root --runroot $WORK/podman/run --tmpdir $WORK/podman/tmp --storage-driver vfs"
    $podman load -q -i "$WORK/hello.tar" >/dev/null
    SCRATCHPACK_CACHE_DIR="$WORK/run-cache" hyperfine --warmup 3 --runs 20 -N \
        --export-markdown "$WORK/run.md" \
        -n 'scratchpack run hello.tar' "$SP run $WORK/hello.tar" \
        -n 'podman run --rm hello' "$podman run --rm --network none hello:latest"
    $podman system reset --force >/dev/null 2>&1 || true
    echo
}

bench_cache() {
    echo "== build cache: warm build, no-op, fetched from a registry"
    local mirror="file://$(cd ../shared/alpine && pwd)"
    export SCRATCHPACK_ALPINE_MIRROR="$mirror" SCRATCHPACK_CACHE_DIR="$WORK/cache-a"
    local repo=${SCRATCHPACK_TOOLS_REPO:-}
    if [ -z "$repo" ]; then
        repo="$WORK/tools-repo"
        ALPINE_MIRROR="$mirror" scripts/tools-repo.sh "$repo"
    fi
    local port=5098 reg="$WORK/cache-registry"
    start_registry "$reg" "$port"
    mkdir -p "$WORK/cache-src"
    cp fixtures/hello.c fixtures/go/hello.go "$WORK/cache-src/"
    (cd "$WORK/cache-src" && apt-get source --download-only -qq tree >/dev/null 2>&1 \
        && tar -xf tree_*.orig.tar.* && rm -f tree_*)
    local tree
    tree=$(ls -d "$WORK"/cache-src/tree-*)
    cd "$WORK/cache-src"
    local to="127.0.0.1:$port/bench/cache" p="--apk-repository file://$repo --apk-allow-untrusted"
    # Runner A fills its cache and the registry.
    "$SP" hello.c -o c.tar -q --cache-to "$to"
    "$SP" hello.go -o go.tar -q --cache-to "$to"
    "$SP" "$tree" -o tree.tar -q --toolchain zig $p --cache-to "$to"
    # Runner B: another cache directory, its toolchains and compilers' caches warm (as a
    # CI runner's image would have them), no builds: each run starts from an empty
    # build cache and fetches.
    mkdir -p "$WORK/cache-b"
    for d in toolchains tools rootfs prepared; do
        [ -e "$WORK/cache-a/$d" ] && cp -a "$WORK/cache-a/$d" "$WORK/cache-b/"
    done
    local b="SCRATCHPACK_CACHE_DIR=$WORK/cache-b" empty="rm -rf $WORK/cache-b/builds"
    # Cold: a cache with only the fetched toolchains (rootfs extracted, zig's libc or Go's
    # standard library built, the project's tools installed), one run each.
    local cold="SCRATCHPACK_CACHE_DIR=$WORK/cache-cold"
    local fresh="rm -rf $WORK/cache-cold && mkdir -p $WORK/cache-cold && cp -a $WORK/cache-a/toolchains $WORK/cache-cold/"
    hyperfine --runs 1 --export-markdown "$WORK/cache-cold.md" \
        -p "$fresh" -n 'hello.c, cold' "env $cold $SP hello.c -o c.tar -q" \
        -p "$fresh" -n 'hello.go, cold' "env $cold $SP hello.go -o go.tar -q" \
        -p "$fresh" -n 'tree, cold' "env $cold $SP $tree -o tree.tar -q --toolchain zig $p"
    hyperfine --warmup 1 --runs 10 --export-markdown "$WORK/cache-c.md" \
        -p true -p true -p "$empty" \
        -n 'hello.c, warm build (compiled)' "$SP hello.c -o c.tar -q --no-build-cache" \
        -n 'hello.c, no-op (local build cache)' "$SP hello.c -o c.tar -q" \
        -n 'hello.c, fetched from the registry' "env $b $SP hello.c -o c.tar -q --cache-from $to"
    hyperfine --warmup 1 --runs 10 --export-markdown "$WORK/cache-go.md" \
        -p true -p true -p "$empty" \
        -n 'hello.go, warm build (compiled)' "$SP hello.go -o go.tar -q --no-build-cache" \
        -n 'hello.go, no-op (local build cache)' "$SP hello.go -o go.tar -q" \
        -n 'hello.go, fetched from the registry' "env $b $SP hello.go -o go.tar -q --cache-from $to"
    hyperfine --warmup 1 --runs 5 --export-markdown "$WORK/cache-tree.md" \
        -p "$SP cache prune projects -q" -p true -p "$empty" \
        -n 'tree, full build (compiled)' "$SP $tree -o tree.tar -q --toolchain zig $p --no-build-cache" \
        -n 'tree, no-op (local build cache)' "$SP $tree -o tree.tar -q --toolchain zig $p" \
        -n 'tree, fetched from the registry' "env $b $SP $tree -o tree.tar -q --toolchain zig $p --cache-from $to"
    kill "$registry_pid" 2>/dev/null || true
    registry_pid=""
    cd - >/dev/null
    echo
}

case "$what" in
    cache) bench_cache ;;
    run) bench_run ;;
    push) bench_push ;;
    package) bench_package ;;
    inspect) bench_inspect ;;
    build) bench_build ;;
    lookup) bench_lookup ;;
    platforms) bench_platforms ;;
    projects) bench_projects ;;
    all) bench_package; bench_inspect; bench_build; bench_lookup; bench_projects; bench_platforms; bench_push; bench_run; bench_cache ;;
    *) echo "usage: $0 [package|inspect|build|lookup|projects|platforms|push|run|cache]" >&2; exit 2 ;;
esac
for md in "$WORK"/*.md; do echo "$(basename "$md" .md):"; cat "$md"; echo; done
