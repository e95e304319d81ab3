#!/usr/bin/env python3
"""Writes a release archive that depends on nothing but its contents.

    archive.py OUTPUT DIRECTORY

OUTPUT ends in .tar.gz or .zip. DIRECTORY becomes the archive's one top-level
folder, under its own name. The same files give the same bytes, on Linux and
macOS alike (GNU and BSD tar differ in their options, so neither is used):
entries sorted by path; every entry owned by root (uid and gid 0, no names);
every time SOURCE_DATE_EPOCH (required); mode 0755 for directories and for
files executable by their owner, 0644 for the rest; no gzip file name or
time; deflate at level 9.
"""

import gzip
import os
import stat
import sys
import tarfile
import time
import zipfile


def entries(top):
    """(path in the archive, path on disk, is a directory), sorted by path."""
    base = os.path.dirname(os.path.abspath(top))
    found = []
    for root, dirs, files in os.walk(os.path.abspath(top)):
        for name in dirs + files:
            path = os.path.join(root, name)
            if os.path.islink(path):
                sys.exit(f"archive.py: {path} is a symbolic link; archives hold files only")
            found.append((os.path.relpath(path, base), path, os.path.isdir(path)))
    found.append((os.path.basename(os.path.abspath(top)), os.path.abspath(top), True))
    return sorted((name.replace(os.sep, "/"), path, is_dir) for name, path, is_dir in found)


def mode_of(path, is_dir):
    if is_dir or os.stat(path).st_mode & stat.S_IXUSR:
        return 0o755
    return 0o644


def write_tar_gz(output, items, epoch):
    with open(output, "wb") as raw, gzip.GzipFile(
        filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9
    ) as compressed, tarfile.open(
        fileobj=compressed, mode="w", format=tarfile.USTAR_FORMAT
    ) as tar:
        for name, path, is_dir in items:
            info = tarfile.TarInfo(name)
            info.mtime = epoch
            info.mode = mode_of(path, is_dir)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if is_dir:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = os.path.getsize(path)
                with open(path, "rb") as data:
                    tar.addfile(info, data)


def write_zip(output, items, epoch):
    # A zip time is local calendar time from 1980 on, at two-second steps.
    stamp = time.gmtime(max(epoch, 315532800))[:6]
    with zipfile.ZipFile(output, "w") as archive:
        for name, path, is_dir in items:
            info = zipfile.ZipInfo(name + "/" if is_dir else name, date_time=stamp)
            info.create_system = 3  # Unix, so that the mode below is read
            info.external_attr = ((stat.S_IFDIR if is_dir else stat.S_IFREG) | mode_of(path, is_dir)) << 16
            if is_dir:
                archive.writestr(info, b"")
            else:
                info.compress_type = zipfile.ZIP_DEFLATED
                with open(path, "rb") as data:
                    archive.writestr(info, data.read(), compresslevel=9)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: archive.py OUTPUT.tar.gz|OUTPUT.zip DIRECTORY")
    output, top = sys.argv[1], sys.argv[2]
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "")
    if not epoch.isdigit():
        sys.exit("archive.py: SOURCE_DATE_EPOCH must be set to a time in seconds")
    if not os.path.isdir(top):
        sys.exit(f"archive.py: {top} is not a directory")
    items = entries(top)
    if output.endswith(".tar.gz"):
        write_tar_gz(output, items, int(epoch))
    elif output.endswith(".zip"):
        write_zip(output, items, int(epoch))
    else:
        sys.exit(f"archive.py: {output}: the name must end in .tar.gz or .zip")


if __name__ == "__main__":
    main()
