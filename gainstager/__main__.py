"""The entry point of `gainstager` (the console script) and of `python -m gainstager`.

The command line imports typer, rich and click before it can handle anything (about 0.1 s; the session pipeline's
numpy and lxml come later, inside the command, where `cli` handles Ctrl-C itself). A Ctrl-C meanwhile would raise
KeyboardInterrupt inside some import and print a traceback. So this module imports nothing of its own, and `main`
catches it around that import: one line, exit 130, as `cli` does later. It is the one other place that prints and
exits, because it runs before `cli` is there.
"""

import signal
import sys

EXIT_INTERRUPTED = 130  # as cli_output.EXIT_INTERRUPTED, which cannot be imported before the import it guards


def main() -> None:
    try:
        from gainstager.cli import main as cli_main
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not interrupt the exit
        print("interrupted", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    cli_main()


if __name__ == "__main__":
    main()
