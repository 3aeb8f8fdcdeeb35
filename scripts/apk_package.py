#!/usr/bin/env python3
"""Writes one APK v2 package (Alpine's format) from a staged directory tree.

Used by scripts/tools-repo.sh. The package is two gzip streams concatenated: a control
tar holding only `.PKGINFO` (its end-of-archive blocks cut, as abuild does), then a data
tar in which each regular file and symlink carries the PAX record `APK-TOOLS.checksum.SHA1`, which
apk checks on install. Deterministic: names sorted, owner root, times 0, gzip without a
name or time, so the same tree gives the same bytes.

usage: apk_package.py TREE OUT.apk name=NAME version=VER arch=ARCH desc=TEXT
                      url=URL license=SPDX [depend=PKG ...] [provides=NAME=VER ...]
"""

import gzip
import hashlib
import io
import os
import stat
import sys
import tarfile


def gz(data: bytes) -> bytes:
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=9) as f:
        f.write(data)
    return out.getvalue()


def info(name: str, st_mode: int) -> tarfile.TarInfo:
    t = tarfile.TarInfo(name)
    t.mtime = 0
    t.uid = t.gid = 0
    t.uname = t.gname = "root"
    t.mode = stat.S_IMODE(st_mode)
    return t


def data_tar(tree: str) -> tuple[bytes, int]:
    buf = io.BytesIO()
    size = 0
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        entries = []
        for root, dirs, files in os.walk(tree):
            dirs.sort()
            for name in sorted(dirs + files):
                entries.append(os.path.join(root, name))
        for path in sorted(entries, key=lambda p: os.path.relpath(p, tree)):
            rel = os.path.relpath(path, tree)
            st = os.lstat(path)
            t = info(rel, st.st_mode)
            if stat.S_ISLNK(st.st_mode):
                t.type = tarfile.SYMTYPE
                t.linkname = os.readlink(path)
                # apk checks a link's target as abuild records it: the SHA1 of the name.
                t.pax_headers = {
                    "APK-TOOLS.checksum.SHA1": hashlib.sha1(t.linkname.encode()).hexdigest()
                }
                tar.addfile(t)
            elif stat.S_ISDIR(st.st_mode):
                t.type = tarfile.DIRTYPE
                tar.addfile(t)
            elif stat.S_ISREG(st.st_mode):
                with open(path, "rb") as f:
                    content = f.read()
                t.size = len(content)
                size += len(content)
                t.pax_headers = {
                    "APK-TOOLS.checksum.SHA1": hashlib.sha1(content).hexdigest()
                }
                tar.addfile(t, io.BytesIO(content))
            else:
                sys.exit(f"apk_package: {path}: not a file, directory or symlink")
    return buf.getvalue(), size


def main() -> None:
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    tree, out = sys.argv[1], sys.argv[2]
    fields: dict[str, list[str]] = {}
    for arg in sys.argv[3:]:
        key, _, value = arg.partition("=")
        fields.setdefault(key, []).append(value)
    for key in ("name", "version", "arch", "desc", "url", "license"):
        if key not in fields:
            sys.exit(f"apk_package: {key}= is required")
    data, size = data_tar(tree)
    data = gz(data)
    one = lambda k: fields[k][0]  # noqa: E731
    lines = [
        f"pkgname = {one('name')}",
        f"pkgver = {one('version')}",
        f"pkgdesc = {one('desc')}",
        f"url = {one('url')}",
        "builddate = 0",
        "packager = scratchpack scripts/tools-repo.sh",
        f"size = {size}",
        f"arch = {one('arch')}",
        f"origin = {one('name')}",
        f"license = {one('license')}",
    ]
    lines += [f"depend = {d}" for d in fields.get("depend", [])]
    lines += [f"provides = {p}" for p in fields.get("provides", [])]
    lines.append(f"datahash = {hashlib.sha256(data).hexdigest()}")
    pkginfo = ("\n".join(lines) + "\n").encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        t = info(".PKGINFO", 0o644)
        t.size = len(pkginfo)
        tar.addfile(t, io.BytesIO(pkginfo))
    control = buf.getvalue()
    # The control tar ends where its first end-of-archive block would start.
    end = 512 + (len(pkginfo) + 511) // 512 * 512
    control = gz(control[:end])
    tmp = out + ".tmp"
    with open(tmp, "wb") as f:
        f.write(control + data)
    os.replace(tmp, out)


if __name__ == "__main__":
    main()
