"""facelib on the command line: verify, enroll, identify, stylize, and the asset manager.

Run ``python -m facelib --help`` (or ``facelib --help`` once installed) and ``--help`` after any
command. Exit codes: 0 success (for ``verify``: the same person), 1 ``verify``: different
people (``assets``: something missing or corrupt), 2 bad input or usage, with a message that
says what was wrong and what to do (``identify`` first answers every photo it can read), 130
interrupted (Ctrl-C), 141 the reader of the output went away (``facelib identify ... | head -1``).

``--json`` (verify, enroll, identify) prints one JSON object per line instead of text:

- verify: ``{"a", "b", "distance", "threshold", "same_person"}``;
- enroll: ``{"database", "name", "faces", "people"}``;
- identify: one object per face, ``{"image", "face", "box", "name", "distance", "threshold"}``
  (``face`` counts from 1; ``name`` null: not recognized; ``box`` is ``[left, top, right, bottom]``),
  ``{"image", "face": null}`` for a photo without a face, and ``{"image", "error"}`` for a photo
  that cannot be read (the message is on stderr too).

Examples
--------
::

    facelib verify a.jpg b.jpg --threshold 0.6
    facelib enroll people.npz "Ada Lovelace" ada1.jpg ada2.jpg
    facelib identify people.npz group.jpg --json
    facelib stylize photo.jpg painting.jpg -o out.png --size 256
    facelib assets list
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import sys
from pathlib import Path

import numpy as np

from facelib import __version__
from facelib.errors import FacelibError

USAGE_ERROR = 2
INTERRUPTED = 130
BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a program killed by a closed pipe
MAX_THRESHOLD = 2.0  # dlib's descriptors are about unit length: distances between faces lie in [0, 2]
_MAX_OUTPUT_NAME = 255 - len(".") - len(".12345678.tmp")  # facelib.storage.atomic_write's temporary name
EPILOG = ("Exit codes: 0 success (verify: same person), 1 verify: different people, 2 bad input or usage, "
          "130 interrupted, 141 output pipe closed. `facelib COMMAND --help` for more.")


class CommandError(FacelibError, ValueError):
    """A command cannot run on the input it was given (the message says why and what to do)."""


# -- argument types: each error names its option (argparse prefixes "argument --steps:") ------
def _threshold(value: str) -> float:
    from facelib.decision import check_threshold
    from facelib.errors import ArgumentError

    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {value!r}") from None
    try:
        return check_threshold(number, maximum=MAX_THRESHOLD)
    except ArgumentError:
        raise argparse.ArgumentTypeError(
            f"must be a number in (0, {MAX_THRESHOLD:g}], got {value}: distances between dlib's face descriptors "
            "(about unit length) lie between 0 and 2, so a larger threshold accepts everyone (0.6 is dlib's)") from None


def _whole(low: int, high: int | None = None):
    """An argparse type: a whole number in [low, high], with a message that reads well after the option's name."""
    def whole(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number, got {value!r}") from None
        if number < low or (high is not None and number > high):
            bounds = f"at least {low}" if high is None else f"from {low} to {high}"
            raise argparse.ArgumentTypeError(f"must be a whole number {bounds}, got {value}")
        return number

    return whole


def _seconds(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, got {value!r}") from None
    if not 0 <= number < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds >= 0, got {value}")
    return number


# -- paths ------------------------------------------------------------------------------------
def _path_problem(path: str) -> str | None:
    """Why ``path`` cannot be read as a file, or None (an OSError such as a name too long is a reason too)."""
    try:
        if Path(path).is_file():
            return None
        return f"{path} {'is not a file' if Path(path).exists() else 'does not exist'}"
    except OSError as error:
        return f"{path}: {error.strerror or error}"


def _check_files(paths: list[str]) -> None:
    """Fail before any work when a file is missing, naming every one."""
    problems = [problem for path in paths if (problem := _path_problem(path))]
    if problems:
        raise CommandError(f"{'; '.join(problems[:10])}{' ...' if len(problems) > 10 else ''}")


def _database_path(value: str) -> Path:
    """The database file, its symbolic links followed once (the lock and the write go to the target)."""
    path = Path(value)
    if path.suffix != ".npz":
        raise CommandError(f"a database file must end in .npz, got {value!r}")
    try:
        return Path(os.path.realpath(path))
    except OSError as error:
        raise CommandError(f"{value}: {error.strerror or error}") from error


def _output_path(output: str, inputs: list[str]) -> Path:
    """Where stylize may write: a writable folder, a known format, never one of the inputs (checked before work)."""
    from facelib.convnets.style import check_output_path

    path = check_output_path(output)
    target = Path(os.path.realpath(path))
    for given in inputs:
        if Path(os.path.realpath(given)) == target:
            raise CommandError(f"the output {output} is the input {given}: writing it would destroy that image; "
                               "choose another output name")
    if len(target.name.encode()) > _MAX_OUTPUT_NAME:
        raise CommandError(f"the output name is {len(target.name.encode())} bytes long; at most {_MAX_OUTPUT_NAME} "
                           "are possible (file names have at most 255 bytes, and the temporary file written first "
                           "adds 14): choose a shorter one")
    return target


# -- output -----------------------------------------------------------------------------------
def _progress(items, description: str, quiet: bool):
    """A tqdm progress bar on stderr for interactive terminals (silent when piped, or with --quiet)."""
    from tqdm import tqdm

    return tqdm(items, desc=description, disable=True if quiet else None, leave=False, file=sys.stderr)


def _note(args, message: str) -> None:
    if not args.quiet:
        print(f"note: {message}", file=sys.stderr)


def _emit(args, text: str, record: dict) -> None:
    print(json.dumps(record, ensure_ascii=False) if args.json else text)


# -- faces ------------------------------------------------------------------------------------
def _one_face(args, image: np.ndarray, path: str) -> np.ndarray:
    """The encoding of the face nearest the image centre; an error when there is none."""
    from facelib import faces, quiet_tensorflow

    quiet_tensorflow()
    found = faces.find_faces(image, upsample=args.upsample)
    if len(found.boxes) == 0:
        raise CommandError(f"no face found in {path}. Use a photo in which the face is visible and at least "
                           "about 40 pixels wide, or try --upsample 2 for small faces.")
    if len(found.boxes) > 1:
        _note(args, f"{len(found.boxes)} faces in {path}; using the one nearest the centre")
    return found.encodings[faces.central_face(found.boxes, image.shape)]


def _verify(args) -> int:
    from facelib import faces
    from facelib.decision import same_person
    from facelib.images import load_image

    paths = [args.image_a, args.image_b]
    _check_files(paths)
    images = [load_image(path) for path in paths]  # both read before any model is loaded: bad files fail fast
    a, b = (_one_face(args, image, path) for image, path in zip(images, paths, strict=True))
    distance = float(faces.face_distance(a, b))
    same = bool(same_person(distance, args.threshold))
    _emit(args, f"distance {distance:.4f}: {'same person' if same else 'different people'} "
                f"(threshold {args.threshold:g})",
          {"a": args.image_a, "b": args.image_b, "distance": distance, "threshold": args.threshold,
           "same_person": same})
    return 0 if same else 1


def _enroll(args) -> int:
    from facelib.images import load_image
    from facelib.recognition.database import FaceDatabase, lock_path, normalize_name

    name = normalize_name(args.name)
    database = _database_path(args.database)
    _check_files(args.images)
    if not database.parent.is_dir():
        raise CommandError(f"folder {database.parent} does not exist; create it first")
    try:  # fail before the encoding, not after it, when the database cannot be written
        lock_path(database).touch()
    except OSError as error:
        raise CommandError(f"cannot write the database {database}: {error.strerror or error} in "
                           f"{database.parent}; choose a folder you can write to") from error
    db = FaceDatabase.open(database)
    if name in db:
        raise CommandError(f"{name!r} is already enrolled in {database}; choose another name "
                           f"(the file was not changed)")
    encodings = np.stack([_one_face(args, load_image(path), path)
                          for path in _progress(args.images, "enroll", args.quiet)])
    if len(db):
        _check_new_face(args, db, encodings)
    db.enroll(name, encodings)
    db.save(database, lock_timeout=args.wait)  # under the writers' lock, merged with what others saved meanwhile
    _emit(args, f"enrolled {name!r} with {len(encodings)} face(s); {database} holds {len(db)} "
                f"{'person' if len(db) == 1 else 'people'}",
          {"database": str(database), "name": name, "faces": len(encodings), "people": len(db)})
    return 0


def _check_new_face(args, db, encodings: np.ndarray) -> None:
    """Refuse (or, with --force, warn about) faces that already match an enrolled person within the threshold."""
    from facelib.decision import same_person

    clashes = [(path, match) for path, match in zip(args.images, db.nearest(encodings), strict=True)
               if same_person(match.distance, args.threshold)]
    if not clashes:
        return
    said = "; ".join(f"{path} matches {match.name!r} (distance {match.distance:.4f} <= {args.threshold:g})"
                     for path, match in clashes[:5])
    if not args.force:
        raise CommandError(f"{said}: the same person under two names could never be told apart (identify would "
                           "always answer the first). Nothing was changed; pass --force to enroll anyway.")
    print(f"warning: {said}; enrolled anyway (--force)", file=sys.stderr)


def _identify(args) -> int:
    from facelib import faces, quiet_tensorflow
    from facelib.images import load_image
    from facelib.recognition.database import DatabaseError, FaceDatabase

    database = _database_path(args.database)
    _check_files(args.images)
    if not database.is_file():
        raise CommandError(f"no database at {args.database}; create one with `facelib enroll {args.database} "
                           "NAME IMAGE...`")
    db = FaceDatabase.load(database)
    if len(db) == 0:
        raise CommandError(f"{args.database} holds nobody; enroll people first")
    quiet_tensorflow()
    failed = 0
    for path in _progress(args.images, "identify", args.quiet):  # one image in memory at a time
        try:
            found = faces.find_faces(load_image(path), upsample=args.upsample)
        except FacelibError as error:  # report it and go on: every other photo still gets its answer
            print(f"facelib identify: error: {error}", file=sys.stderr)
            if args.json:
                _emit(args, "", {"image": path, "error": str(error)})
            failed += 1
            continue
        if len(found.boxes) == 0:
            _emit(args, f"{path}: no face found", {"image": path, "face": None})
            continue
        for i, (box, match) in enumerate(zip(found.boxes, db.identify(found.encodings, threshold=args.threshold),
                                             strict=True), 1):
            who = match.name if match.name is not None else "not recognized"
            _emit(args, f"{path}: face {i} at ({', '.join(str(int(v)) for v in box)}): {who} "
                        f"(distance {match.distance:.4f})",
                  {"image": path, "face": i, "box": [int(v) for v in box], "name": match.name,
                   "distance": match.distance, "threshold": args.threshold})
    try:
        if db.save_index(lock_timeout=0):
            _note(args, f"saved the search index beside {database} for the next run")
    except DatabaseError as error:  # the answers are given; keeping the index is a bonus
        _note(args, f"the search index was not saved ({error})")
    if failed:
        print(f"facelib identify: error: {failed} of {len(args.images)} photos could not be read (see above)",
              file=sys.stderr)
        return USAGE_ERROR
    return 0


def _stylize(args) -> int:
    from PIL import Image

    from facelib import quiet_tensorflow
    from facelib.convnets.style import stylize
    from facelib.images import load_image
    from facelib.storage import atomic_write

    output = _output_path(args.output, [args.content, args.style])  # before any work
    _check_files([args.content, args.style])
    content, style = load_image(args.content), load_image(args.style)
    quiet_tensorflow()
    result = stylize(content, style, size=args.size, steps=args.steps, refine_steps=args.steps, backbone=args.backbone,
                     progress=not args.quiet and sys.stderr.isatty())
    Image.init()
    try:
        with atomic_write(output) as f:  # a full disk leaves the previous file whole
            Image.fromarray(result.image).save(f, format=Image.registered_extensions()[output.suffix.lower()])
    except OSError as error:
        raise CommandError(f"cannot write {output}: {error.strerror or error} (nothing was changed there)") from error
    print(f"wrote {output} ({result.image.shape[1]}x{result.image.shape[0]}, final cost "
          f"{result.history['cost'][-1]:.4g})")
    return 0


# -- the parser -------------------------------------------------------------------------------
def _parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    from facelib.convnets.backbones import NAMES
    from facelib.convnets.style import RECIPES

    parser = argparse.ArgumentParser(prog="facelib", description=__doc__.split("\n")[0], epilog=EPILOG)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    quiet = argparse.ArgumentParser(add_help=False)
    quiet.add_argument("-q", "--quiet", action="store_true",
                       help="no progress bars or notes on stderr (errors are still shown)")
    scripted = argparse.ArgumentParser(add_help=False, parents=[quiet])
    scripted.add_argument("--json", action="store_true",
                          help="print one JSON object per line instead of text (fields: see `facelib --help` "
                               "and the README)")
    faces = argparse.ArgumentParser(add_help=False, parents=[scripted])
    faces.add_argument("--upsample", type=int, choices=range(0, 4), default=1,
                       help="detector upsampling for images up to about 2048x2048: 1 finds faces from about "
                            "40 px, 2 from 20 px; larger photos are never enlarged (faces from about 120 px "
                            "in a 12 MP photo are found) and 2 or more is refused for them")
    faces.add_argument("--threshold", type=_threshold, default=0.6,
                       help="largest distance for the same person, in (0, 2] (default 0.6, dlib's)")

    def command(name: str, parents, **kwargs) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=parents, epilog=EPILOG, **kwargs)

    verify = command("verify", [faces], help="are two photos of the same person? (exit 0: yes, 1: no)",
                     description="Distance between the faces nearest the centres of two photos; exit code 0 when "
                                 "it is at most the threshold (same person), else 1. --json: one object "
                                 '{"a", "b", "distance", "threshold", "same_person"}.')
    verify.add_argument("image_a", metavar="A")
    verify.add_argument("image_b", metavar="B")
    verify.set_defaults(run=_verify)

    enroll = command("enroll", [faces], help="add a person to a face database (.npz)",
                     description="Encode the face nearest the centre of each image and store them under NAME in DB "
                                 "(created when missing; saved atomically; a symbolic link is followed, the file "
                                 "keeps its permissions). A face that already matches an enrolled person within "
                                 "the threshold is refused (--force enrolls it anyway). --json: one object "
                                 '{"database", "name", "faces", "people"}.')
    enroll.add_argument("database", metavar="DB")
    enroll.add_argument("name", metavar="NAME")
    enroll.add_argument("images", metavar="IMAGE", nargs="+")
    enroll.add_argument("--force", action="store_true",
                        help="enroll even when a face matches someone already enrolled")
    enroll.add_argument("--wait", type=_seconds, default=60.0, metavar="SECONDS",
                        help="how long to wait for another writer of DB (it says that it waits); then give up "
                             "with exit 2 (default 60)")
    enroll.set_defaults(run=_enroll)

    identify = command("identify", [faces], help="name every face in photos, or 'not recognized'",
                       description="For every face found in each image, the nearest enrolled person and the "
                                   "distance, or 'not recognized' when farther than the threshold. An image "
                                   "without faces prints 'no face found'; one that cannot be read is reported "
                                   "and the others are still answered (exit 2 at the end). --json: one object "
                                   'per face {"image", "face", "box", "name", "distance", "threshold"} (name '
                                   'null: not recognized), {"image", "face": null} without a face, '
                                   '{"image", "error"} for an unreadable photo.')
    identify.add_argument("database", metavar="DB")
    identify.add_argument("images", metavar="IMAGE", nargs="+")
    identify.set_defaults(run=_identify)

    steps = ", ".join(f"{RECIPES[name].steps}" + (f" then {RECIPES[name].refine_steps} at each larger size"
                      if RECIPES[name].refine_steps else "") + f" for {name}" for name in NAMES)
    stylize = command("stylize", [quiet], help="neural style transfer: CONTENT painted in the style of STYLE",
                      description="Generate an image with the content of CONTENT and the style of STYLE (Gatys "
                                  "et al.) and save it to OUT (atomically; never over CONTENT or STYLE).")
    stylize.add_argument("content", metavar="CONTENT")
    stylize.add_argument("style", metavar="STYLE")
    stylize.add_argument("-o", "--output", metavar="OUT", required=True, help="where to save (.png, .jpg)")
    stylize.add_argument("--size", type=_whole(32), default=256,
                         help="longer side in pixels (default 256; at most 1024)")
    stylize.add_argument("--steps", type=_whole(1), default=None,
                         help=f"optimisation steps at each size (default: the backbone's recipe, {steps})")
    stylize.add_argument("--backbone", choices=NAMES, default=NAMES[0],
                         help=f"ImageNet network whose features define the costs (default {NAMES[0]})")
    stylize.set_defaults(run=_stylize)

    sub.add_parser("assets", help="list, fetch or verify the data and weights (see `facelib assets --help`)",
                   add_help=False)
    return parser, {name: p for name, p in sub.choices.items()}


def _parse(argv: list[str]) -> argparse.Namespace:
    """Parse, reporting an unknown option as such (with the nearest known one), never as a bad positional."""
    parser, commands = _parser()
    args, extras = parser.parse_known_args(argv)
    if extras:
        target = commands.get(args.command, parser)
        known = [option for action in target._actions for option in action.option_strings]
        hints = [f"{extra} (did you mean {match[0]}?)" if (match := difflib.get_close_matches(extra, known, 1))
                 else extra for extra in extras]
        target.error(f"unrecognized arguments: {' '.join(hints)}")
    return args


def _guarded(command: str, run) -> int:
    """Run a command: FacelibError and OSError on a user's path -> exit 2 with the message; pipes and Ctrl-C handled."""
    if sys.stdout is None:
        print(f"facelib {command}: error: standard output is closed, so the results would be lost; run it with "
              "stdout open (or redirected to a file)", file=sys.stderr)
        return USAGE_ERROR
    try:
        code = run()
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        _drop_stdout()
        return BROKEN_PIPE
    except FacelibError as error:  # bad input, a damaged file, a missing asset; anything else is a bug
        print(f"facelib {command}: error: {error}", file=sys.stderr)
    except OSError as error:
        if error.filename is None:  # writing the results failed (stdout closed, disk full)
            print(f"facelib {command}: error: cannot write the results: {error.strerror or error}", file=sys.stderr)
        else:
            print(f"facelib {command}: error: {error.filename}: {error.strerror or error}", file=sys.stderr)
    except KeyboardInterrupt:
        print(f"facelib {command}: interrupted", file=sys.stderr)
        return INTERRUPTED
    return USAGE_ERROR


def _drop_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's final flush does not fail on the closed pipe again."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # not a real file (tests capture stdout in memory)
        pass


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["assets"]:
        from facelib import assets

        return _guarded("assets", lambda: assets.main(argv[1:], prog="facelib assets"))
    args = _parse(argv)
    return _guarded(args.command, lambda: args.run(args))
