"""The top frames of a py-spy profile in raw (collapsed) format, as shares of the samples.

    py-spy record --format raw -o /tmp/profile.txt --pid PID --duration 15
    python bench/checkout/profile_top.py /tmp/profile.txt [--top 25] [--match app/]

Prints, for each function, its inclusive share (samples with the function anywhere on the
stack, counted once per sample) and its self share (samples where it is the innermost frame),
then the samples by the library of their innermost frame, then by step of a till request (the
first of BUCKETS found on the stack: the token's staff lookup, the two use cases, the rest of our
resolvers, GraphQL, HTTP). Lines are `frame;frame;... count`, frames `function (file:line)`.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

FRAME = re.compile(r"^(?P<function>.*?) \((?P<file>[^:()]+)(?::\d+)?\)$")
ROOT = f"{Path(__file__).resolve().parents[2]}/"  # the checkout this script sits in
AREAS = (
    ("app (ours)", "(app/"),
    ("sqlalchemy", "sqlalchemy/"),
    ("asyncpg", "asyncpg/"),
    ("strawberry", "strawberry/"),
    ("graphql-core", "graphql/"),
    ("pydantic", "pydantic"),
    ("starlette", "starlette/"),
    ("uvicorn/httptools", "uvicorn/"),
    ("jwt", "jwt/"),
    ("asyncio/uvloop", "asyncio/"),
)


BUCKETS = (
    ("auth: bearer token -> staff actor (actor_for_token)", re.compile(r"^actor_for_token ")),
    ("use case complete_purchase (app/checkout/service.py)",
     re.compile(r"^complete_purchase \(app/checkout/service")),
    ("use case scan_member_code (app/checkout/service.py)",
     re.compile(r"^scan_member_code \(app/checkout/service")),
    ("our resolvers, context, loaders (outside the use cases)",
     re.compile(r"\(app/graphql/(?!asgi|extensions|errors|execution|schema)")),
    ("GraphQL parse + validate", re.compile(r"(parse|validat)\w* \((strawberry|graphql)/", re.I)),
    ("GraphQL execution (strawberry, graphql-core)",
     re.compile(r"\((strawberry|graphql)/|\(app/graphql/(execution|schema)")),
    ("HTTP (uvicorn, starlette, our middleware)",
     re.compile(r"\((starlette|uvicorn|app/http|app/graphql/asgi)")),
)  # fmt: skip
# SQLAlchemy runs the ORM's synchronous code in a greenlet: py-spy sees that greenlet's frames
# only, from greenlet_spawn down, so which use case it serves is not on the stack.
GREENLET = re.compile(r"\((sqlalchemy|asyncpg)/")


def bucket(names: list[str]) -> str:
    for label, pattern in BUCKETS:
        if any(pattern.search(name) for name in names):
            return label
    if names and GREENLET.search(names[0]):
        return "SQLAlchemy ORM in its greenlet (any use case: the stack is cut there)"
    return "other (event loop, threads)"


def parse(path: Path) -> list[tuple[list[str], int]]:
    stacks = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks.append((stack.split(";"), int(count)))
    return stacks


def key(frame: str) -> str:
    match = FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    file = match["file"]
    for marker in ("site-packages/", ROOT, "/lib/python3"):
        if marker in file:
            file = file.split(marker, 1)[1]
    return f"{match['function']} ({file})"


def area(frame: str) -> str | None:
    frame = key(frame)  # our files as app/..., wherever the checkout is
    for name, marker in AREAS:
        if marker in frame:
            return name
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--match", default="", help="only functions whose file contains this")
    args = parser.parse_args()
    stacks = parse(args.profile)
    total = sum(count for _, count in stacks)
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    areas: Counter[str] = Counter()
    steps: Counter[str] = Counter()
    for frames, count in stacks:
        steps[bucket([key(frame) for frame in frames])] += count
        for name in {key(frame) for frame in frames}:
            inclusive[name] += count
        own[key(frames[-1])] += count
        # The innermost known area: where the CPU is spent, library by library.
        for frame in reversed(frames):
            found = area(frame)
            if found:
                areas[found] += count
                break
        else:
            areas["other"] += count
    print(f"{total} samples")
    print(f"\n{'incl %':>7} {'self %':>7}  function (file)")
    shown = 0
    for name, count in inclusive.most_common():
        if args.match and args.match not in name:
            continue
        print(f"{100 * count / total:7.1f} {100 * own[name] / total:7.1f}  {name}")
        shown += 1
        if shown >= args.top:
            break
    print(f"\n{'self %':>7}  innermost frames")
    for name, count in own.most_common(args.top):
        print(f"{100 * count / total:7.1f}  {name}")
    print(f"\n{'self %':>7}  by area (the innermost frame of a known library)")
    for name, count in areas.most_common():
        print(f"{100 * count / total:7.1f}  {name}")
    print(f"\n{'share %':>7}  by step (the first of these found on the stack)")
    for name, count in steps.most_common():
        print(f"{100 * count / total:7.1f}  {name}")


if __name__ == "__main__":
    main()
