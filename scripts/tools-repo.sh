#!/usr/bin/env bash
# Writes a local Alpine package repository of build tools, for machines that cannot
# reach Alpine's own repositories (air-gapped runners, these test machines):
#
#   scripts/tools-repo.sh OUTDIR
#   scratchpack DIR -o app.tar --apk-repository file://OUTDIR --apk-allow-untrusted
#
# OUTDIR/<arch>/APKINDEX.tar.gz (unsigned) indexes packages under Alpine's names, each
# made from real upstream code:
#   make        GNU make 4.3 (Debian's make-dfsg source), static, musl
#   pkgconf     pkgconf 1.8.1 (Debian source), static, musl; provides pkgconfig
#   cmake       CMake from its official musllinux wheel (PyPI), musl, libstdc++ bundled
#   samurai     Alpine's package for the `ninja` command; here the real ninja from its
#               official musllinux wheel (PyPI), musl
#   zlib-dev, zlib-static
#               zlib 1.2.13 (Debian source): headers, pkg-config file, libz.a for musl
#
# and OUTDIR/<other arch>/ (aarch64, armv7, armhf, x86, ppc64le, s390x, riscv64) index
# zlib-dev and zlib-static for the other platforms, libz.a compiled by zig for each
# (zig from PATH, else the release toolchains/zig.toml pins, through pip): what
# `--platform P --apk zlib-static` installs for the target.
#
# Needs: apt-get with deb-src entries (apt-get source), gcc, make, autoconf, automake,
# autopoint, musl-gcc (musl-tools), python3 with pip, and an Alpine minirootfs (its own
# `apk index` writes the index): ALPINE_MIRROR (default Alpine's CDN) as scratchpack's
# --alpine-mirror. Deterministic packages; the index is rewritten only when done.
set -euo pipefail

out=${1:?usage: scripts/tools-repo.sh OUTDIR}
here=$(cd "$(dirname "$0")" && pwd)
arch=$(uname -m)
mirror=${ALPINE_MIRROR:-https://dl-cdn.alpinelinux.org/alpine}
alpine=3.20.3
cmake_version=3.31.6
ninja_version=1.11.1.4

mkdir -p "$out/$arch"
out=$(cd "$out" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
jobs=$(nproc)
say() { echo "tools-repo: $*" >&2; }

# apt-get source into $work/src (as root apt warns it cannot drop to _apt: harmless).
fetch_source() {
    mkdir -p "$work/src"
    (cd "$work/src" && apt-get source --download-only -qq "$1" >/dev/null 2>&1) ||
        { say "apt-get source $1 failed: enable deb-src entries (see README)"; exit 2; }
    local tarball
    tarball=$(ls "$work/src/$1"_*.orig.tar.* | grep -v '\.asc$' | head -n 1)
    mkdir -p "$work/b/$1"
    tar -xf "$tarball" -C "$work/b/$1" --strip-components=1
}

package() { # TREE NAME VERSION DESC URL LICENSE [field=value ...]
    package_for "$arch" "$@"
}

package_for() { # ARCH TREE NAME VERSION DESC URL LICENSE [field=value ...]
    local to=$1 tree=$2 name=$3 version=$4 desc=$5 url=$6 license=$7
    shift 7
    mkdir -p "$out/$to"
    python3 "$here/apk_package.py" "$tree" "$out/$to/$name-$version.apk" \
        name="$name" version="$version" arch="$to" desc="$desc" url="$url" \
        license="$license" "$@"
    say "packaged $name $version ($to)"
}

export CC=musl-gcc SOURCE_DATE_EPOCH=0

say "GNU make"
fetch_source make-dfsg
(
    cd "$work/b/make-dfsg"
    # The DFSG tarball has no configure; its configure.ac lists Makefile twice.
    sed -i 's|lib/Makefile po/Makefile.in Makefile \\|lib/Makefile po/Makefile.in \\|' configure.ac
    autoreconf -fi >/dev/null 2>&1
    ./configure -q --disable-nls --without-guile --disable-load LDFLAGS=-static >/dev/null
    make -s -C lib -j"$jobs" >/dev/null
    make -s -j"$jobs" make >/dev/null
    install -D -m 755 -s make "$work/t/make/usr/bin/make"
)
package "$work/t/make" make 4.3-r0 "GNU make (static, musl)" https://www.gnu.org/software/make GPL-3.0-or-later

say "pkgconf"
fetch_source pkgconf
(
    cd "$work/b/pkgconf"
    ./configure -q --prefix=/usr --disable-shared --enable-static \
        --with-system-libdir=/usr/lib --with-system-includedir=/usr/include \
        --with-pkg-config-dir=/usr/lib/pkgconfig:/usr/share/pkgconfig >/dev/null
    make -s -j"$jobs" LDFLAGS=-all-static >/dev/null
    install -D -m 755 -s pkgconf "$work/t/pkgconf/usr/bin/pkgconf"
    ln -s pkgconf "$work/t/pkgconf/usr/bin/pkg-config"
)
package "$work/t/pkgconf" pkgconf 1.8.1-r0 "pkg-config (static, musl)" http://pkgconf.org ISC \
    provides=pkgconfig=1 provides=cmd:pkg-config=1.8.1-r0 provides=cmd:pkgconf=1.8.1-r0

say "zlib"
fetch_source zlib
(
    cd "$work/b/zlib"
    ./configure --static --prefix=/usr >/dev/null
    make -s -j"$jobs" libz.a >/dev/null
    make -s install DESTDIR="$work/z" >/dev/null
    mkdir -p "$work/t/zlib-dev/usr/include" "$work/t/zlib-dev/usr/lib/pkgconfig" "$work/t/zlib-static/usr/lib"
    cp "$work/z/usr/include/zlib.h" "$work/z/usr/include/zconf.h" "$work/t/zlib-dev/usr/include/"
    cp "$work/z/usr/lib/pkgconfig/zlib.pc" "$work/t/zlib-dev/usr/lib/pkgconfig/"
    cp "$work/z/usr/lib/libz.a" "$work/t/zlib-static/usr/lib/"
)
package "$work/t/zlib-dev" zlib-dev 1.2.13-r0 "zlib headers" https://zlib.net Zlib provides=pc:zlib=1.2.13
package "$work/t/zlib-static" zlib-static 1.2.13-r0 "zlib static library (musl)" https://zlib.net Zlib

say "cmake and ninja (official musllinux wheels)"
mkdir -p "$work/wheels"
python3 -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
    --platform "musllinux_1_1_$arch" --python-version 3.11 -d "$work/wheels" \
    "cmake==$cmake_version" "ninja==$ninja_version"
unzip_to() { python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' "$1" "$2"; }
unzip_to "$work/wheels/cmake-$cmake_version"-*.whl "$work/cmake"
unzip_to "$work/wheels/ninja-$ninja_version"-*.whl "$work/ninja"
# cmake finds its modules and libraries relative to its own file: keep the wheel's
# layout under /usr/lib/cmake-wheel and run it through a script.
mkdir -p "$work/t/cmake/usr/lib/cmake-wheel" "$work/t/cmake/usr/bin"
cp -a "$work/cmake/cmake" "$work/cmake/cmake.libs" "$work/t/cmake/usr/lib/cmake-wheel/"
rm -rf "$work/t/cmake/usr/lib/cmake-wheel/cmake/__"* "$work/t/cmake/usr/lib/cmake-wheel/cmake/"*.py
chmod 755 "$work/t/cmake/usr/lib/cmake-wheel/cmake/data/bin/"*
for tool in cmake ctest cpack; do
    printf '#!/bin/sh\nexec /usr/lib/cmake-wheel/cmake/data/bin/%s "$@"\n' "$tool" >"$work/t/cmake/usr/bin/$tool"
    chmod 755 "$work/t/cmake/usr/bin/$tool"
done
package "$work/t/cmake" cmake "$cmake_version-r0" "CMake (official musllinux build)" https://cmake.org BSD-3-Clause
mkdir -p "$work/t/samurai/usr/bin"
install -m 755 "$work/ninja/ninja-$ninja_version.data/scripts/ninja" "$work/t/samurai/usr/bin/ninja"
package "$work/t/samurai" samurai "${ninja_version%.*}-r0" \
    "the ninja command: upstream ninja (official musllinux build) under Alpine's package name" \
    https://ninja-build.org Apache-2.0 provides=cmd:ninja="${ninja_version%.*}-r0"

say "zlib for the other platforms (zig cc)"
zig_version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$here/../toolchains/zig.toml" | head -n 1)
if command -v zig >/dev/null; then
    zig=zig
else
    python3 -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
        -d "$work/wheels" "ziglang==$zig_version"
    unzip_to "$work/wheels/ziglang-$zig_version"-*.whl "$work/zig"
    chmod 755 "$work/zig/ziglang/zig"
    zig=$work/zig/ziglang/zig
fi
export ZIG_GLOBAL_CACHE_DIR=$work/zig-cache ZIG_LOCAL_CACHE_DIR=$work/zig-cache
# Alpine's architecture, zig's target (and CPU for ARMv6, as scratchpack builds it).
others="aarch64:aarch64-linux-musl armv7:arm-linux-musleabihf armhf:arm-linux-musleabihf:-mcpu=arm1176jzf_s
    x86:x86-linux-musl ppc64le:powerpc64le-linux-musl s390x:s390x-linux-musl riscv64:riscv64-linux-musl
    x86_64:x86_64-linux-musl"
zlib_objects="adler32 crc32 deflate infback inffast inflate inftrees trees zutil compress uncompr gzclose gzlib gzread gzwrite"
for spec in $others; do
    IFS=: read -r other target cpu <<<"$spec"
    [ "$other" = "$arch" ] && continue
    rm -rf "$work/o" "$work/t/zlib-static"
    mkdir -p "$work/o" "$work/t/zlib-static/usr/lib"
    for o in $zlib_objects; do
        "$zig" cc -target "$target" $cpu -w -O2 -D_LARGEFILE64_SOURCE=1 -DHAVE_HIDDEN \
            -I"$work/b/zlib" -c -o "$work/o/$o.o" "$work/b/zlib/$o.c"
    done
    (cd "$work/o" && "$zig" ar rcsD "$work/t/zlib-static/usr/lib/libz.a" $(for o in $zlib_objects; do echo "$o.o"; done))
    package_for "$other" "$work/t/zlib-dev" zlib-dev 1.2.13-r0 "zlib headers" https://zlib.net Zlib provides=pc:zlib=1.2.13
    package_for "$other" "$work/t/zlib-static" zlib-static 1.2.13-r0 "zlib static library (musl)" https://zlib.net Zlib
done

say "index"
tarball="alpine-minirootfs-$alpine-$arch.tar.gz"
mkdir -p "$work/rootfs"
case $mirror in
file://*) cp "${mirror#file://}/v3.20/releases/$arch/$tarball" "$work/" ;;
*) curl -fsSL -o "$work/$tarball" "$mirror/v3.20/releases/$arch/$tarball" ;;
esac
tar -xzf "$work/$tarball" -C "$work/rootfs" 2>/dev/null || true
# The rootfs's apk, run through its own musl loader: no namespace, no root needed. The
# host's own index is written last: the tests take it as the sign the repository is done.
for dir in $(cd "$out" && ls -d */ | tr -d / | grep -vx "$arch") "$arch"; do
    (
        cd "$out/$dir"
        rm -f APKINDEX.tar.gz.tmp
        "$work/rootfs/lib/ld-musl-$arch.so.1" --library-path "$work/rootfs/lib:$work/rootfs/usr/lib" \
            "$work/rootfs/sbin/apk" index --quiet --allow-untrusted --rewrite-arch "$dir" \
            -d "scratchpack build tools" -o APKINDEX.tar.gz.tmp ./*.apk
        mv APKINDEX.tar.gz.tmp APKINDEX.tar.gz
    )
done
say "done: $out ($(ls "$out"/*/*.apk | wc -l) packages)"
