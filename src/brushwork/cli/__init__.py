"""The ``brushwork`` command: stylize, serve, train, export, info, styles, and the rest.

Defaults are read from the library (the config dataclasses and function signatures), never
typed twice. Errors a user can cause print one line and exit 1; usage errors exit 2 (argparse);
Ctrl-C exits 130. Set BRUSHWORK_DEBUG=1 to see the traceback of an unexpected error.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from .. import __version__, distributed
from ..errors import BrushworkError
from . import bench, distil, evaluate, export, info, optimize, serve, styles, stylize, train


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="brushwork",
        description="Fast artistic style transfer for high-resolution photos (MT-Net, CVPR 2017).",
    )
    parser.add_argument("--version", action="version", version=f"brushwork {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    stylize.add_parser(commands)
    serve.add_parser(commands)
    train.add_parser(commands)
    distil.add_parser(commands)
    export.add_parser(commands)
    info.add_parser(commands)
    optimize.add_parser(commands)
    evaluate.add_parser(commands)
    bench.add_parser(commands)
    styles.add_parser(commands)
    return parser


def _say_error(line: str) -> None:
    """Write one line to stderr in a single write, newline included.

    ``print`` writes the text and the newline separately, so when the processes of
    ``stylize --workers`` fail together their lines interleave mid-line on the shared pipe
    (CI saw "...safetensorsbrushwork: error: rank 1: ..."); one short write is atomic.
    """
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def main(argv: Sequence[str] | None = None) -> int:
    from ..training import TrainingInterrupted

    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # for stylize --workers
    try:
        return args.run(args)
    except TrainingInterrupted as error:  # SIGTERM / Ctrl-C: not an error, a checkpoint is safe
        _say_error(f"brushwork: {error}")
        return 130
    except BrushworkError as error:
        _say_error(f"brushwork: error: {distributed.rank_label()}{error}")
        return 1
    except KeyboardInterrupt:
        _say_error("brushwork: interrupted")
        return 130
    except Exception as error:
        if os.environ.get("BRUSHWORK_DEBUG"):
            raise
        _say_error(f"brushwork: unexpected error: {type(error).__name__}: {error} "
                   "(set BRUSHWORK_DEBUG=1 for details; please report it)")
        return 1


if __name__ == "__main__":
    sys.exit(main())
