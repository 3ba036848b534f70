"""A teacher's model pack: the cache of a built book (trained models, constructed datasets, cached curves) in one
archive that students import instead of training.

    python -m pagutils.course.pack export course-quick.tar      # after `make book`: everything in the cache
    python -m pagutils.course.pack import course-quick.tar      # on each student's machine, before `make book`

The archive is a tar file holding `manifest.json` (for every file: its place in the cache, its SHA-256 digest, its
size, its kind and the configuration it was made for) and the cache's safetensors files. `import_pack` checks
everything before it places anything: every member is a plain file the manifest names, every digest matches,
every file holds the configuration and algorithm versions that the manifest gives and that its place in the
cache (`cache.path_for`) requires, and its tensors match the digest stored inside it. A pack from another version
of the algorithms, a tampered file or a file placed under another configuration's name is refused with the
reason, and the cache is left as it was. Nothing is unpickled: the manifest is JSON, the files are safetensors.
"""
import argparse
import hashlib
import io
import json
import os
import shutil
import tarfile
import time
from pathlib import Path, PurePosixPath

from safetensors.torch import load

from ..core import cache, checks, paths, versions

MANIFEST = "manifest.json"
FORMAT = 1


class PackError(ValueError):
    """A pack that cannot be imported: the message names the file and the reason."""


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _metadata(data: bytes) -> dict:
    """The metadata a safetensors file's header holds, read from its bytes (no tensor is loaded, nothing runs)."""
    if len(data) < 8:
        raise checks.CorruptFileError("it is too short to be a safetensors file")
    size = int.from_bytes(data[:8], "little")
    if size > len(data) - 8:
        raise checks.CorruptFileError("its header is truncated")
    return json.loads(data[8:8 + size]).get("__metadata__") or {}


def _check(relative: str, data: bytes) -> dict:
    """The kind and configuration of a cache file given as its place in the cache and its bytes, after checking
    that the place is the one `cache.path_for` gives that configuration with today's algorithm versions and that
    the tensors match their stored digest. Raises `checks.CorruptFileError` with the reason."""
    parts = PurePosixPath(relative).parts
    if len(parts) != 2 or not parts[1].endswith(".safetensors") or parts[0].startswith("."):
        raise checks.CorruptFileError("it is not a cache file (expected <kind>/<key>.safetensors)")
    kind = parts[0]
    metadata = _metadata(data)
    if "config" not in metadata:
        raise checks.CorruptFileError("it records no configuration")
    config = json.loads(metadata["config"])
    made_by = versions.of(kind, config)
    if metadata.get("versions") != cache.canonical(made_by):
        raise checks.CorruptFileError(f"it was made by other versions of the algorithms ({metadata.get('versions')}, "
                                      f"this pagutils makes {cache.canonical(made_by)})")
    if cache.path_for(kind, config).relative_to(paths.cache_dir()).as_posix() != relative:
        raise checks.CorruptFileError("its name is not the key of the configuration it holds")
    if "digest" not in metadata or cache.tensor_digest(load(data)) != metadata["digest"]:
        raise checks.CorruptFileError("its tensors do not match the digest stored with them")
    return dict(kind=kind, config=config)


def inventory() -> tuple:
    """(files, skipped): every whole, current file of the cache (`paths.cache_dir()`) as the manifest lists it
    (path, sha256, bytes, kind, config), and a line for each file left out (made by another version of the
    algorithms, or corrupt) with its reason. Introduced in the Teaching part."""
    root = paths.cache_dir()
    files, skipped = [], []
    for path in sorted(root.glob("*/*.safetensors")):
        relative = path.relative_to(root).as_posix()
        data = path.read_bytes()
        try:
            found = _check(relative, data)
        except Exception as error:  # noqa: BLE001 - any unreadable file is left out, with its reason
            skipped.append(f"{relative}: {error}")
            continue
        files.append(dict(path=relative, sha256=_sha256(data), bytes=len(data), **found))
    return files, skipped


def zoo_estimate(profile: str) -> dict:
    """What the zoo of `profile` puts in a pack, computed from its configurations without training anything: the
    number of models that `pagutils.scale.prefill` prepares for every chapter and their float32 weights in bytes. A lower
    bound on the pack: the models a chapter trains itself and the constructed datasets come on top. Introduced in
    the Teaching part."""
    from ..scale import prefill
    from ..core.models import count_parameters, make_classifier

    configs = {}
    for chapter in prefill.chapters():
        for config in prefill.configurations(chapter, profile):
            configs[cache.canonical(config)] = config
    parameters = {}
    for config in configs.values():
        key = (config["arch"], config["dataset"])
        if key not in parameters:
            parameters[key] = count_parameters(make_classifier(*key))
    return dict(models=len(configs),
                bytes=sum(4 * parameters[c["arch"], c["dataset"]] for c in configs.values()))


def export_pack(out, profile: str = None) -> dict:
    """Write every whole, current file of the cache (`inventory`) into the tar archive `out`, with a manifest;
    `profile` is recorded as the pack's label (the profile the book was built with; None reads PAG_PROFILE, else
    'quick'). A file that another version of the algorithms made, or that is corrupt, is left out with a note.
    Returns the manifest. Introduced in the Teaching part."""
    root = paths.cache_dir()
    if not root.is_dir():
        raise FileNotFoundError(f"export_pack: the cache {str(root)!r} does not exist; build the book first")
    files, skipped = inventory()
    if not files:
        raise FileNotFoundError(f"export_pack: the cache {str(root)!r} holds no current artefact to pack")
    manifest = dict(format=FORMAT, created=time.strftime("%Y-%m-%d %H:%M:%S"),
                    profile=profile or os.environ.get("PAG_PROFILE") or "quick",
                    bytes=sum(f["bytes"] for f in files), files=files, skipped=skipped)
    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with tarfile.open(temporary, "w") as archive:
            body = json.dumps(manifest, indent=1).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size = len(body)
            archive.addfile(info, io.BytesIO(body))
            for entry in files:
                archive.add(root / entry["path"], arcname=entry["path"], recursive=False)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    return manifest


def import_pack(archive) -> dict:
    """Place the files of the pack `archive` in the cache (`paths.cache_dir()`) after checking all of them (see
    the module's doc); raise `PackError` naming every problem, leaving the cache as it was, if any check fails.
    Files the cache already holds are kept. Returns the manifest. Introduced in the Teaching part."""
    source = Path(archive)
    if not source.is_file():
        raise FileNotFoundError(f"import_pack: archive {str(source)!r} does not exist")
    try:
        handle = tarfile.open(source, "r")
    except tarfile.TarError as error:
        raise PackError(f"import_pack: {str(source)!r} is not a pack (a tar archive): {error}") from None
    root = paths.cache_dir()
    with handle:
        members = {m.name: m for m in handle.getmembers()}
        if MANIFEST not in members:
            raise PackError(f"import_pack: {str(source)!r} has no {MANIFEST}")
        manifest = json.loads(handle.extractfile(members[MANIFEST]).read())
        if manifest.get("format") != FORMAT:
            raise PackError(f"import_pack: pack format {manifest.get('format')!r}, this pagutils reads {FORMAT}")
        listed = {f["path"]: f for f in manifest["files"]}
        problems = [f"{name}: the manifest does not list it" for name in members
                    if name != MANIFEST and name not in listed]
        staged = {}
        for name, entry in listed.items():
            member = members.get(name)
            if member is None or not member.isfile():
                problems.append(f"{name}: missing from the archive, or not a plain file")
                continue
            data = handle.extractfile(member).read()
            if _sha256(data) != entry["sha256"]:
                problems.append(f"{name}: its SHA-256 digest is not the manifest's (the file was changed)")
                continue
            try:
                found = _check(name, data)
            except Exception as error:  # noqa: BLE001 - every reason is reported together
                problems.append(f"{name}: {error}")
                continue
            if found["config"] != entry.get("config") or found["kind"] != entry.get("kind"):
                problems.append(f"{name}: the configuration it holds is not the one the manifest lists")
                continue
            staged[name] = data
    if problems:
        raise PackError(f"import_pack: refused {str(source)!r}, nothing was placed in the cache:\n- "
                        + "\n- ".join(problems))
    staging = root / f".import-{os.getpid()}"
    try:
        for name, data in staged.items():
            target = root / name
            if target.is_file() and _sha256(target.read_bytes()) == listed[name]["sha256"]:
                continue
            temporary = staging / name
            temporary.parent.mkdir(parents=True, exist_ok=True)
            temporary.write_bytes(data)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(temporary, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return manifest


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m pagutils.course.pack", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    out = sub.add_parser("export", help="write the cache into a pack")
    out.add_argument("archive", help="the pack to write, e.g. course-quick.tar")
    out.add_argument("--profile", help="the profile the book was built with (default: PAG_PROFILE or quick)")
    into = sub.add_parser("import", help="check a pack and place its files in the cache")
    into.add_argument("archive", help="the pack to read")
    args = parser.parse_args(argv)
    if args.command == "export":
        manifest = export_pack(args.archive, args.profile)
        print(f"{args.archive}: {len(manifest['files'])} files, {manifest['bytes'] / 2 ** 20:.1f} MiB "
              f"({manifest['profile']} profile)")
        for line in manifest["skipped"]:
            print(f"left out {line}")
    else:
        try:
            manifest = import_pack(args.archive)
        except PackError as error:
            raise SystemExit(str(error)) from None
        print(f"{len(manifest['files'])} files of the {manifest['profile']} pack are in {paths.cache_dir()}")


if __name__ == "__main__":
    main()
