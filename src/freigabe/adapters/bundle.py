"""Bundles: `deployment-bundle-<sha>.tar.gz` plus `<bundle>.sha256`.

Creation is reproducible (sorted members, fixed mtime, owner and mode normalised, gzip
header without name or time), so the same tree gives the same digest. Before anything
is written on a target, `scan_bundle` reads every member and refuses absolute paths,
`..`, links or hardlinks pointing out of the release, devices and FIFOs; it also
produces the release's file manifest (path, size, SHA-256).
"""

from __future__ import annotations

import contextlib
import fnmatch
import gzip
import hashlib
import json
import os
import posixpath
import re
import tarfile
import time
import zlib
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from freigabe.core import bundle_policy as policy
from freigabe.errors import BundleError

PREFIX = "deployment-bundle-"
SUFFIX = ".tar.gz"
DEFAULT_MTIME = 315532800  # 1980-01-01, when neither git nor SOURCE_DATE_EPOCH gives one
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def bundle_name(sha: str) -> str:
    return f"{PREFIX}{sha}{SUFFIX}"


def sha_from_name(name: str) -> str | None:
    if name.startswith(PREFIX) and name.endswith(SUFFIX):
        return name[len(PREFIX) : -len(SUFFIX)] or None
    return None


def file_sha256(path: Path | str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class BundleInfo:
    path: Path
    sha256: str
    size: int
    files: int
    sha: str

    @property
    def name(self) -> str:
        return self.path.name


# ---------------------------------------------------------------- creation


def _excluded(rel: str, patterns: Iterable[str]) -> bool:
    for pattern in patterns:
        if pattern in policy.PROTECTED and policy.is_env_template(rel):
            continue  # `.env.example` is documentation, not the environment file
        if fnmatch.fnmatchcase(rel, pattern.rstrip("/")):
            return True
    return False


def source_secrets(source: Path, members: list[str]) -> dict[str, str]:
    """Members of a tree about to be bundled that look secret (see core/bundle_policy)."""
    found = {}
    for rel in members:
        path = source / rel
        if path.is_file() and not path.is_symlink():
            with open(path, "rb") as fh:
                head = fh.read(policy.HEAD_BYTES)
        else:
            head = b""
        if reason := policy.secret_reason(rel, head):
            found[rel] = reason
    return found


def list_members(source: Path, exclude: list[str]) -> list[str]:
    """Every path the bundle will hold, relative and sorted."""
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(source):
        rel_dir = os.path.relpath(dirpath, source)
        rel_dir = "" if rel_dir == "." else rel_dir
        kept = []
        for name in sorted(dirnames):
            rel = posixpath.join(rel_dir, name) if rel_dir else name
            if _excluded(rel, exclude):
                continue
            if os.path.islink(os.path.join(dirpath, name)):
                found.append(rel)  # a link to a directory is stored as a link
            else:
                kept.append(name)
                found.append(rel)
        dirnames[:] = kept
        for name in sorted(filenames):
            rel = posixpath.join(rel_dir, name) if rel_dir else name
            if not _excluded(rel, exclude):
                found.append(rel)
    return sorted(found)


def _tarinfo(source: Path, rel: str, mtime: int) -> tuple[tarfile.TarInfo, Path | None]:
    full = source / rel
    info = tarfile.TarInfo(rel)
    info.mtime = mtime
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if full.is_symlink():
        target = os.readlink(full)
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(rel), target))
        if target.startswith("/") or resolved == ".." or resolved.startswith("../"):
            raise BundleError(
                f"{rel} is a link to {target}, outside the app; replace it with the file itself "
                "or exclude it in [build] exclude"
            )
        info.type = tarfile.SYMTYPE
        info.linkname = target
        info.mode = 0o777
        return info, None
    if full.is_dir():
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
        return info, None
    if full.is_file():
        info.type = tarfile.REGTYPE
        info.size = full.stat().st_size
        info.mode = 0o755 if os.access(full, os.X_OK) else 0o644
        return info, full
    raise BundleError(f"{rel} is neither a file, a directory nor a link; exclude it from the bundle")


def create_bundle(source: Path, out_dir: Path, sha: str, exclude: list[str], mtime: int | None = None) -> BundleInfo:
    """Write the bundle and its `.sha256` atomically; return what was written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    name = bundle_name(sha)
    final = out_dir / name
    tmp = out_dir / f".{name}.partial"
    stamp = DEFAULT_MTIME if mtime is None else mtime
    members = list_members(source, exclude)
    count = 0
    try:
        with open(tmp, "wb") as raw:
            with (
                gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as gz,
                tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
            ):
                for rel in members:
                    info, path = _tarinfo(source, rel, stamp)
                    if path is None:
                        tar.addfile(info)
                    else:
                        with open(path, "rb") as fh:
                            tar.addfile(info, fh)
                        count += 1
            raw.flush()
            os.fsync(raw.fileno())
        digest = file_sha256(tmp)
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    write_digest_file(final, digest)
    return BundleInfo(final, digest, final.stat().st_size, count, sha)


def write_digest_file(bundle: Path, digest: str) -> Path:
    path = bundle.with_name(bundle.name + ".sha256")
    path.write_text(f"{digest}  {bundle.name}\n", encoding="ascii")
    return path


def read_digest_file(bundle: Path) -> str:
    path = bundle.with_name(bundle.name + ".sha256")
    if not path.is_file():
        raise BundleError(f"{path.name} is missing beside the bundle; copy it along or rebuild with `freigabe build`")
    parts = path.read_text(encoding="ascii", errors="replace").split()
    if len(parts) != 2 or not re.fullmatch(r"[0-9a-f]{64}", parts[0]):
        raise BundleError(f"{path.name} is not a `sha256sum` line; rebuild with `freigabe build`")
    if parts[1].lstrip("*") != bundle.name:
        raise BundleError(
            f"{path.name} names {parts[1]!r}, not {bundle.name!r}: the bundle and its digest "
            "were renamed apart; use the pair as `freigabe build` wrote it"
        )
    return parts[0]


def verify_local_bundle(bundle: Path) -> BundleInfo:
    """Check the bundle file against its `.sha256`; return its facts."""
    if not bundle.is_file():
        raise BundleError(f"bundle {bundle} does not exist; build one with `freigabe build`")
    expected = read_digest_file(bundle)
    actual = file_sha256(bundle)
    if actual != expected:
        raise BundleError(
            f"bundle {bundle.name} does not match its SHA-256 ({actual[:12]}… instead of "
            f"{expected[:12]}…): it is damaged or was changed; rebuild or copy it again"
        )
    sha = sha_from_name(bundle.name) or actual[:40]
    return BundleInfo(bundle, actual, bundle.stat().st_size, 0, sha)


# ---------------------------------------------------------------- safety scan


@dataclass(frozen=True)
class ManifestEntry:
    path: str
    size: int
    sha256: str


@dataclass
class BundleScan:
    files: list[ManifestEntry] = field(default_factory=list)
    dirs: list[str] = field(default_factory=list)
    links: dict[str, str] = field(default_factory=dict)
    total_size: int = 0
    secrets: dict[str, str] = field(default_factory=dict)  # member → why it looks secret
    bad_modes: dict[str, str] = field(default_factory=dict)  # member → the mode problem

    def manifest(self) -> list[dict[str, object]]:
        return [{"path": e.path, "size": e.size, "sha256": e.sha256} for e in self.files]

    def has(self, rel: str) -> bool:
        return any(e.path == rel for e in self.files) or rel in self.links

    def has_dir(self, rel: str) -> bool:
        return rel in self.dirs or any(e.path.startswith(rel + "/") for e in self.files)


def save_scan(scan: BundleScan, path: Path) -> None:
    data = {
        "files": [[e.path, e.size, e.sha256] for e in scan.files],
        "dirs": scan.dirs,
        "links": scan.links,
        "total_size": scan.total_size,
        "secrets": scan.secrets,
        "bad_modes": scan.bad_modes,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data), encoding="utf-8")
    tmp.replace(path)


def load_scan(path: Path) -> BundleScan | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return BundleScan(
            files=[ManifestEntry(p, int(size), digest) for p, size, digest in data["files"]],
            dirs=list(data["dirs"]),
            links=dict(data["links"]),
            total_size=int(data["total_size"]),
            secrets=dict(data["secrets"]),
            bad_modes=dict(data["bad_modes"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def scan_verified_bundle(
    path: Path, sha256: str, cache_dir: Path | None, allow_secrets: Iterable[str] = ()
) -> BundleScan:
    """Scan a bundle whose digest the caller has just verified to be `sha256`, and refuse it
    if it breaks the bundle policy (secrets not allowed by path, special mode bits).

    The digest binds the content, so a scan made earlier of the same digest (by `plan`)
    is reused instead of reading every member again; without one, scan now and keep it.
    """
    cached = cache_dir / f"{sha256}.json" if cache_dir else None
    scan = load_scan(cached) if cached is not None else None
    if scan is None:
        scan = scan_bundle(path)
        if cached is not None:
            save_scan(scan, cached)
    enforce_policy(scan, path.name, allow_secrets)
    return scan


def check_bundle(
    path: Path,
    cache_dir: Path | None,
    allow_secrets: Iterable[str] = (),
    verified: Callable[[BundleInfo], None] | None = None,
) -> tuple[BundleInfo, BundleScan]:
    """`verify_local_bundle` and `scan_verified_bundle` side by side: the digest is hashed in a
    thread of its own while the members are scanned (both only read the file). Nothing of the
    scan counts before the digest matched: a bundle that does not match its `.sha256` is refused
    for that, whatever the scan found, and a scan is kept only under the digest the bundle was
    verified to have. `verified` hears the bundle's facts as soon as the digest matched."""
    try:
        expected = read_digest_file(path) if path.is_file() else None
    except BundleError:
        expected = None  # verify_local_bundle names the problem
    cached = load_scan(cache_dir / f"{expected}.json") if cache_dir is not None and expected else None
    scan: BundleScan | None = cached
    failed: Exception | None = None
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="freigabe-digest") as pool:
        digest = pool.submit(verify_local_bundle, path)
        if verified is not None:
            digest.add_done_callback(lambda done: None if done.exception() else verified(done.result()))
        if scan is None:
            try:
                scan = scan_bundle(path)
            except Exception as exc:  # raised once the digest matched: a damaged bundle is named as damaged
                failed = exc
        info = digest.result()
    if failed is not None:
        raise failed
    assert scan is not None
    if cached is None and cache_dir is not None:
        save_scan(scan, cache_dir / f"{info.sha256}.json")
    enforce_policy(scan, path.name, allow_secrets)
    return info, scan


def enforce_policy(scan: BundleScan, label: str, allow_secrets: Iterable[str] = ()) -> None:
    """Refuse a bundle with special mode bits, or with a likely secret not allowed by its exact path."""
    if scan.bad_modes:
        member, problem = next(iter(sorted(scan.bad_modes.items())))
        raise BundleError(
            f"bundle {label}: {member} {problem}; a release never carries setuid, setgid or sticky "
            "bits — rebuild the bundle with ordinary modes"
        )
    allowed = set(allow_secrets)
    found = {p: why for p, why in sorted(scan.secrets.items()) if p not in allowed}
    if found:
        member, why = next(iter(found.items()))
        more = f" (and {len(found) - 1} more: {', '.join(list(found)[1:4])})" if len(found) > 1 else ""
        raise BundleError(
            f"bundle {label} contains {member}{more}, which looks like a secret ({why}); keep it out of the "
            f"bundle ([build] exclude), or if it must ship, allow that exact path in [build] allow_secrets"
        )


def _member_name(raw: str, bundle: str) -> str:
    if _CONTROL.search(raw):
        raise BundleError(f"bundle {bundle} has a member name with control characters; rebuild it")
    if raw.startswith("/"):
        raise BundleError(
            f"bundle {bundle} has an absolute path ({raw}); it would write outside the release — "
            "rebuild it with `freigabe build`"
        )
    name = raw
    while name.startswith("./"):
        name = name[2:]
    name = name.rstrip("/")
    if ".." in name.split("/"):
        raise BundleError(
            f"bundle {bundle} has a path with '..' ({raw}); it would write outside the release — "
            "rebuild it with `freigabe build`"
        )
    return name


def _inside(base_dir: str, target: str) -> bool:
    resolved = posixpath.normpath(posixpath.join(base_dir, target))
    return not (target.startswith("/") or resolved == ".." or resolved.startswith("../"))


def scan_bundle(path: Path | str) -> BundleScan:
    """Read every member; raise BundleError on the first unsafe or unreadable one."""
    label = os.path.basename(str(path))
    with open(path, "rb") as fh:
        if fh.read(2) != b"\x1f\x8b":
            raise BundleError(f"bundle {label} is not a gzip file; rebuild it with `freigabe build`")
    scan = BundleScan()
    regular: set[str] = set()
    try:
        with tarfile.open(path, mode="r:gz") as tar:
            for member in tar:
                name = _member_name(member.name, label)
                if not name or name == ".":
                    continue
                if not member.issym() and (problem := policy.mode_problem(member.mode)):
                    scan.bad_modes[name] = problem
                if member.isdir():
                    scan.dirs.append(name)
                elif member.issym():
                    if not _inside(posixpath.dirname(name), member.linkname):
                        raise BundleError(
                            f"bundle {label}: {name} is a link to {member.linkname}, outside the "
                            "release; rebuild the bundle without it"
                        )
                    scan.links[name] = member.linkname
                elif member.islnk():
                    target = _member_name(member.linkname, label)
                    if target not in regular:
                        raise BundleError(
                            f"bundle {label}: {name} is a hard link to {member.linkname}, which is "
                            "not a file of the release; rebuild the bundle without it"
                        )
                    entry = next(e for e in scan.files if e.path == target)
                    scan.files.append(ManifestEntry(name, entry.size, entry.sha256))
                    regular.add(name)
                elif member.isreg():
                    digest = hashlib.sha256()
                    stream = tar.extractfile(member)
                    assert stream is not None
                    head = stream.read(policy.HEAD_BYTES)
                    digest.update(head)
                    for chunk in iter(lambda: stream.read(1 << 20), b""):  # noqa: B023
                        digest.update(chunk)
                    if reason := policy.secret_reason(name, head):
                        scan.secrets[name] = reason
                    scan.files.append(ManifestEntry(name, member.size, digest.hexdigest()))
                    scan.total_size += member.size
                    regular.add(name)
                else:
                    kind = (
                        "device"
                        if (member.ischr() or member.isblk())
                        else ("FIFO" if member.isfifo() else "special file")
                    )
                    raise BundleError(
                        f"bundle {label}: {name} is a {kind}; a release may hold only files, "
                        "directories and links — rebuild the bundle without it"
                    )
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile, OSError) as exc:
        if isinstance(exc, BundleError):
            raise
        raise BundleError(
            f"bundle {label} cannot be read as a tar.gz archive (truncated or corrupt: {exc}); "
            "rebuild it or copy it again"
        ) from None
    return scan


def prune_bundles(out_dir: Path, keep: int, retention_days: int, now: float | None = None) -> list[Path]:
    """Remove bundles older than the retention, always keeping the newest `keep`."""
    bundles = sorted(
        (p for p in out_dir.glob(f"{PREFIX}*{SUFFIX}") if p.is_file()),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    cutoff = (now or time.time()) - retention_days * 86400
    removed = []
    for bundle in bundles[keep:]:
        if bundle.stat().st_mtime < cutoff:
            bundle.unlink()
            bundle.with_name(bundle.name + ".sha256").unlink(missing_ok=True)
            removed.append(bundle)
    return removed
