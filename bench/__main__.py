from __future__ import annotations

from bench import instructions, run
from bench.harness import parse_args

args = parse_args(None)
raise SystemExit(instructions.main(args) if args.instructions else run.main(args))
