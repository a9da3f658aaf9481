"""facelib on the command line: verify, enroll, identify, stylize, and the asset manager.

Run ``python -m facelib --help`` (or ``facelib --help`` once installed) and ``--help`` after any
command. Exit codes: 0 success (for ``verify``: the same person), 1 ``verify``: different
people (``assets``: something missing or corrupt), 2 bad input or usage, with a message that
says what was wrong and what to do.

Examples
--------
::

    facelib verify a.jpg b.jpg --threshold 0.6
    facelib enroll people.npz "Ada Lovelace" ada1.jpg ada2.jpg
    facelib identify people.npz group.jpg
    facelib stylize photo.jpg painting.jpg -o out.png --size 256 --steps 300
    facelib assets list
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

from facelib import __version__
from facelib.errors import FacelibError

USAGE_ERROR = 2
MAX_THRESHOLD = 2.0  # dlib's descriptors are about unit length: distances between faces lie in [0, 2]


class CommandError(FacelibError, ValueError):
    """A command cannot run on the input it was given (the message says why and what to do)."""


def _progress(items, description: str):
    """A tqdm progress bar on stderr for interactive terminals (silent when piped)."""
    from tqdm import tqdm

    return tqdm(items, desc=description, disable=None, leave=False, file=sys.stderr)


def _check_files(paths: list[str]) -> None:
    """Fail before any work when a file is missing, naming every one."""
    problems = [f"{path} {'is not a file' if Path(path).exists() else 'does not exist'}"
                for path in paths if not Path(path).is_file()]
    if problems:
        raise CommandError(f"{'; '.join(problems[:10])}{' ...' if len(problems) > 10 else ''}")


def _load_images(paths: list[str]) -> list[np.ndarray]:
    """Read every image before any model is loaded, so bad files fail fast (for a few images only)."""
    from facelib.images import load_image

    _check_files(paths)
    return [load_image(path) for path in paths]


def _faces(image: np.ndarray, upsample: int) -> tuple[np.ndarray, np.ndarray]:
    """Boxes (n, 4) and 128-d encodings (n, 128) of every face detected in ``image``."""
    from facelib import faces, quiet_tensorflow

    quiet_tensorflow()
    boxes, _ = faces.detect_faces(image, upsample=upsample)
    if len(boxes) == 0:
        return boxes.reshape(0, 4), np.zeros((0, faces.ENCODING_SIZE), np.float32)
    return boxes, faces.encode_chips(faces.face_chips(image, faces.face_landmarks(image, boxes)))


def _one_face(image: np.ndarray, path: str, upsample: int) -> np.ndarray:
    """The encoding of the face nearest the image centre; an error when there is none."""
    from facelib.faces import central_face

    boxes, encodings = _faces(image, upsample)
    if len(boxes) == 0:
        raise CommandError(f"no face found in {path}. Use a photo in which the face is visible and at least "
                           "about 40 pixels wide, or try --upsample 2 for small faces.")
    if len(boxes) > 1:
        print(f"note: {len(boxes)} faces in {path}; using the one nearest the centre", file=sys.stderr)
    return encodings[central_face(boxes, image.shape)]


def _threshold(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {value!r}") from None
    if not math.isfinite(number) or not 0 < number <= MAX_THRESHOLD:
        raise argparse.ArgumentTypeError(
            f"must be a number in (0, {MAX_THRESHOLD:g}], got {value}: distances between dlib's face descriptors "
            "(about unit length) lie between 0 and 2, so a larger threshold accepts everyone (0.6 is dlib's)")
    return number


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return number


def _database_path(value: str) -> Path:
    path = Path(value)
    if path.suffix != ".npz":
        raise argparse.ArgumentTypeError(f"a database file must end in .npz, got {value!r}")
    return path


def _verify(args) -> int:
    from facelib import faces
    from facelib.decision import same_person

    paths = [args.image_a, args.image_b]
    a, b = (_one_face(image, path, args.upsample) for image, path in zip(_load_images(paths), paths, strict=True))
    distance = float(faces.face_distance(a, b))
    same = bool(same_person(distance, args.threshold))
    print(f"distance {distance:.4f}: {'same person' if same else 'different people'} "
          f"(threshold {args.threshold:g})")
    return 0 if same else 1


def _enroll(args) -> int:
    from facelib.images import load_image
    from facelib.recognition.database import FaceDatabase, lock_path, normalize_name

    name = normalize_name(args.name)
    _check_files(args.images)
    if not args.database.parent.is_dir():
        raise CommandError(f"folder {args.database.parent} does not exist; create it first")
    try:  # fail before the encoding, not after it, when the database cannot be written
        lock_path(args.database).touch()
    except OSError as error:
        raise CommandError(f"cannot write the database {args.database}: {error.strerror or error} in "
                           f"{args.database.parent}; choose a folder you can write to") from error
    db = FaceDatabase.open(args.database)
    if name in db:
        raise CommandError(f"{name!r} is already enrolled in {args.database}; choose another name "
                           f"(the file was not changed)")
    encodings = [_one_face(load_image(path), path, args.upsample) for path in _progress(args.images, "enroll")]
    db.enroll(name, np.stack(encodings))
    db.save(args.database)  # under the writers' lock, merged with what others saved meanwhile
    print(f"enrolled {name!r} with {len(encodings)} face(s); {args.database} holds {len(db)} "
          f"{'person' if len(db) == 1 else 'people'}")
    return 0


def _identify(args) -> int:
    from facelib.images import load_image
    from facelib.recognition.database import FaceDatabase

    _check_files(args.images)
    if not args.database.is_file():
        raise CommandError(f"no database at {args.database}; create one with `facelib enroll {args.database} "
                           "NAME IMAGE...`")
    db = FaceDatabase.load(args.database)
    if len(db) == 0:
        raise CommandError(f"{args.database} holds nobody; enroll people first")
    for path in _progress(args.images, "identify"):  # one image in memory at a time
        boxes, encodings = _faces(load_image(path), args.upsample)
        if len(boxes) == 0:
            print(f"{path}: no face found")
            continue
        for i, (box, match) in enumerate(zip(boxes, db.identify(encodings, threshold=args.threshold), strict=True), 1):
            who = match.name if match.name is not None else "not recognized"
            print(f"{path}: face {i} at ({', '.join(str(int(v)) for v in box)}): {who} "
                  f"(distance {match.distance:.4f})")
    return 0


def _stylize(args) -> int:
    from PIL import Image

    from facelib import quiet_tensorflow
    from facelib.convnets.style import check_output_path, stylize

    output = check_output_path(args.output)  # before any work: a folder, a missing folder, an unwritable format
    content, style = _load_images([args.content, args.style])
    quiet_tensorflow()
    result = stylize(content, style, size=args.size, steps=args.steps, backbone=args.backbone)
    Image.fromarray(result.image).save(output)
    print(f"wrote {output} ({result.image.shape[1]}x{result.image.shape[0]}, final cost "
          f"{result.history['cost'][-1]:.4g})")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="facelib", description=__doc__.split("\n")[0],
                                     epilog="Exit codes: 0 success (verify: same person), 1 verify: different "
                                            "people, 2 bad input or usage. `facelib COMMAND --help` for more.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    verify = sub.add_parser("verify", help="are two photos of the same person? (exit 0: yes, 1: no)",
                            description="Distance between the faces nearest the centres of two photos; "
                                        "exit code 0 when it is at most the threshold (same person), else 1.")
    verify.add_argument("image_a", metavar="A")
    verify.add_argument("image_b", metavar="B")
    verify.add_argument("--threshold", type=_threshold, default=0.6,
                        help="largest distance for the same person, in (0, 2] (default 0.6, dlib's)")
    verify.set_defaults(run=_verify)

    enroll = sub.add_parser("enroll", help="add a person to a face database (.npz)",
                            description="Encode the face nearest the centre of each image and store them "
                                        "under NAME in DB (created when missing; saved atomically).")
    enroll.add_argument("database", metavar="DB", type=_database_path)
    enroll.add_argument("name", metavar="NAME")
    enroll.add_argument("images", metavar="IMAGE", nargs="+")
    enroll.set_defaults(run=_enroll)

    identify = sub.add_parser("identify", help="name every face in photos, or 'not recognized'",
                              description="For every face found in each image, the nearest enrolled person "
                                          "and the distance, or 'not recognized' when farther than the "
                                          "threshold. An image without faces prints 'no face found'.")
    identify.add_argument("database", metavar="DB", type=_database_path)
    identify.add_argument("images", metavar="IMAGE", nargs="+")
    identify.add_argument("--threshold", type=_threshold, default=0.6,
                          help="largest distance still recognised, in (0, 2] (default 0.6)")
    identify.set_defaults(run=_identify)

    for command in (verify, enroll, identify):
        command.add_argument("--upsample", type=int, choices=range(0, 4), default=1,
                             help="detector upsampling for images up to about 2048x2048: 1 finds faces from about "
                                  "40 px, 2 from 20 px; larger photos are never enlarged (faces from about 120 px "
                                  "in a 12 MP photo are found) and 2 or more is refused for them")

    stylize = sub.add_parser("stylize", help="neural style transfer: CONTENT painted in the style of STYLE",
                             description="Generate an image with the content of CONTENT and the style of "
                                         "STYLE (Gatys et al.) and save it to OUT.")
    stylize.add_argument("content", metavar="CONTENT")
    stylize.add_argument("style", metavar="STYLE")
    stylize.add_argument("-o", "--output", metavar="OUT", required=True, help="where to save (.png, .jpg)")
    stylize.add_argument("--size", type=_positive, default=256, help="longer side in pixels (default 256)")
    stylize.add_argument("--steps", type=_positive, default=300, help="optimisation steps (default 300)")
    stylize.add_argument("--backbone", choices=("squeezenet", "vgg19"), default="squeezenet",
                         help="ImageNet network whose features define the costs (default squeezenet)")
    stylize.set_defaults(run=_stylize)

    sub.add_parser("assets", help="list, fetch or verify the data and weights (see `facelib assets --help`)",
                   add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["assets"]:
        from facelib import assets

        return assets.main(argv[1:])
    args = _parser().parse_args(argv)
    try:
        return args.run(args)
    except FacelibError as error:  # bad input, a damaged file, a missing asset; anything else is a bug
        print(f"facelib {args.command}: error: {error}", file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt:
        print(f"facelib {args.command}: interrupted", file=sys.stderr)
        return 130

