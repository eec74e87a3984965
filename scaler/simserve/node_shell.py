"""The read-only commands a measurement script sends a node over SSH, interpreted, never run.

A simulated node answers the usual sampling commands (``cat /proc/meminfo``, ``while true; do
cat /proc/meminfo; sleep 5; done``) from the model. This is a parser for a small subset of the
POSIX shell grammar (IEEE Std 1003.1, Shell Command Language 2.9: lists, AND/OR lists, the
``while`` compound command) and an interpreter for an allow-list of commands:

- ``cat FILE...`` of /proc/meminfo, /proc/loadavg, /proc/stat (the last only when the model has
  ``node_stat``: otherwise one line on stderr and status 1, as ``cat`` of a missing file);
- ``sleep N`` (seconds; ``s``/``m``/``h`` suffixes as GNU sleep), ``date`` and ``date +%s``,
  ``echo WORD...``, ``true``, ``:``, ``false``;
- sequences with ``;`` or newlines, ``&&`` and ``||``, and ``while LIST; do LIST; done``.

Anything else (pipes, redirections, ``$`` expansions, backquotes, other commands or files) is
refused as a whole before anything runs: "command not allowed" on stderr, exit status 127, the
shell's "command not found". No process is ever started: the words are only compared.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

NOT_ALLOWED = 127
FILES = ("/proc/meminfo", "/proc/loadavg", "/proc/stat")
#: Said with every refusal, so a user sees what would work.
ALLOWED = ("cat " + "|".join(FILES) + ", sleep N, date [+%s], echo, true, false, joined by "
           "';' '&&' '||' and 'while LIST; do LIST; done'")
# A loop that neither sleeps nor waits for its reader is paced, so one client cannot starve the
# server's event loop (which also serves the API and the other nodes).
MIN_ITERATION_S = 0.001


class NotAllowed(ValueError):
    """The command line uses something outside the allow-list."""


# Syntax ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Simple:
    argv: tuple[str, ...]


@dataclass(frozen=True)
class While:
    condition: Script
    body: Script


@dataclass(frozen=True)
class AndOr:
    """``first (op next)*``: op is "&&" or "||"."""

    commands: tuple[Simple | While, ...]
    ops: tuple[str, ...]


@dataclass(frozen=True)
class Script:
    items: tuple[AndOr, ...]


_OPERATORS = ("&&", "||", ";;", ";", "\n", "|", "&", "<", ">", "(", ")")
_FORBIDDEN = set("$`")
_SEPARATORS = (";", "\n")


def tokenize(text: str) -> list[str]:
    """Words and operators. Quotes group (single: literal; double: literal too, since ``$`` and
    backquotes are refused anywhere); ``#`` starts a comment at the start of a word."""
    tokens: list[str] = []
    word: list[str] = []
    in_word = False
    i, n = 0, len(text)

    def end_word() -> None:
        nonlocal in_word
        if in_word:
            tokens.append("".join(word))
            word.clear()
            in_word = False

    while i < n:
        ch = text[i]
        if ch in " \t":
            end_word()
            i += 1
        elif ch == "#" and not in_word:
            while i < n and text[i] != "\n":
                i += 1
        elif ch == "'":
            j = text.find("'", i + 1)
            if j < 0:
                raise NotAllowed("unterminated quote")
            word.append(text[i + 1 : j])
            in_word = True
            i = j + 1
        elif ch == '"':
            j = text.find('"', i + 1)
            if j < 0:
                raise NotAllowed("unterminated quote")
            inner = text[i + 1 : j]
            if _FORBIDDEN & set(inner) or "\\" in inner:
                raise NotAllowed("expansions are not allowed")
            word.append(inner)
            in_word = True
            i = j + 1
        elif ch == "\\":
            if i + 1 < n and text[i + 1] == "\n":  # line continuation
                i += 2
                continue
            if i + 1 >= n:
                raise NotAllowed("trailing backslash")
            word.append(text[i + 1])
            in_word = True
            i += 2
        elif ch in _FORBIDDEN:
            raise NotAllowed("expansions are not allowed")
        else:
            op = next((o for o in _OPERATORS if text.startswith(o, i)), None)
            if op is not None:
                end_word()
                tokens.append(op)
                i += len(op)
            else:
                word.append(ch)
                in_word = True
                i += 1
    end_word()
    return tokens


class _Parser:
    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str:
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def skip_separators(self) -> None:
        while self.peek() in _SEPARATORS:
            self.pos += 1

    def script(self, until: tuple[str, ...] = ()) -> Script:
        items: list[AndOr] = []
        self.skip_separators()
        while self.peek() is not None and self.peek() not in until:
            items.append(self.and_or())
            tok = self.peek()
            if tok in _SEPARATORS:
                self.skip_separators()
            elif tok is not None and tok not in until:
                raise NotAllowed(f"unexpected {tok!r}")
        return Script(tuple(items))

    def and_or(self) -> AndOr:
        commands = [self.command()]
        ops: list[str] = []
        while self.peek() in ("&&", "||"):
            ops.append(self.take())
            while self.peek() == "\n":  # a newline may follow && and ||
                self.pos += 1
            commands.append(self.command())
        return AndOr(tuple(commands), tuple(ops))

    def command(self) -> Simple | While:
        tok = self.peek()
        if tok is None or tok in _OPERATORS:
            raise NotAllowed(f"unexpected {tok or 'end'!r}")
        if tok == "while":
            self.pos += 1
            condition = self.script(until=("do",))
            self.expect("do")
            body = self.script(until=("done",))
            self.expect("done")
            if not condition.items or not body.items:
                raise NotAllowed("empty while loop")
            return While(condition, body)
        argv: list[str] = []
        while self.peek() is not None and self.peek() not in _OPERATORS:
            argv.append(self.take())
        check(argv)
        return Simple(tuple(argv))

    def expect(self, word: str) -> None:
        if self.peek() != word:
            raise NotAllowed(f"expected {word!r}")
        self.pos += 1


_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)([smh]?)")
_UNIT_S = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0}


def sleep_seconds(arg: str) -> float:
    m = _DURATION.fullmatch(arg)
    if m is None:
        raise NotAllowed(f"sleep: invalid time interval {arg!r}")
    return float(m.group(1)) * _UNIT_S[m.group(2)]


def check(argv: list[str]) -> None:
    """Refuse anything but the allow-list (the module doc)."""
    name, args = argv[0], argv[1:]
    if name == "cat":
        if not args or any(a not in FILES for a in args):
            raise NotAllowed("cat: only " + ", ".join(FILES))
    elif name == "sleep":
        if len(args) != 1:
            raise NotAllowed("sleep: one interval")
        sleep_seconds(args[0])
    elif name == "date":
        if args not in ([], ["+%s"]):
            raise NotAllowed("date: only 'date' or 'date +%s'")
    elif name in ("true", ":", "false"):
        if args:
            raise NotAllowed(f"{name}: no arguments")
    elif name != "echo":
        raise NotAllowed(f"{name}: not allowed")


def parse(text: str) -> Script:
    """The command line as a Script; ``NotAllowed`` if any part of it is outside the allow-list."""
    tokens = tokenize(text)
    parser = _Parser(tokens)
    script = parser.script()
    if parser.peek() is not None:
        raise NotAllowed(f"unexpected {parser.peek()!r}")
    if not script.items:
        raise NotAllowed("empty command")
    return script


# Running --------------------------------------------------------------------------------------


class Closed(Exception):
    """The client went away: stop quietly."""


@dataclass
class NodeIO:
    """What a script can reach: the node's files (name -> text, or None when the model does
    not simulate that file), its clock, output, and a wait that ends early when the client
    goes away (raising ``Closed``)."""

    read_file: Callable[[str], str | None]
    write_out: Callable[[str], Awaitable[None]]
    write_err: Callable[[str], Awaitable[None]]
    wait: Callable[[float], Awaitable[None]]
    clock: Callable[[], float] = time.time


class Interpreter:
    def __init__(self, io: NodeIO) -> None:
        self.io = io

    async def run(self, script: Script) -> int:
        status = 0
        for item in script.items:
            status = await self.and_or(item)
        return status

    async def and_or(self, item: AndOr) -> int:
        status = await self.command(item.commands[0])
        for op, command in zip(item.ops, item.commands[1:], strict=True):
            if (op == "&&") == (status == 0):
                status = await self.command(command)
        return status

    async def command(self, command: Simple | While) -> int:
        if isinstance(command, While):
            status = 0
            loop = asyncio.get_running_loop()
            while await self.run(command.condition) == 0:
                started = loop.time()
                status = await self.run(command.body)
                spent = loop.time() - started
                await self.io.wait(max(0.0, MIN_ITERATION_S - spent))
            return status
        return await self.simple(command.argv)

    async def simple(self, argv: tuple[str, ...]) -> int:
        name, args = argv[0], argv[1:]
        if name == "cat":
            status = 0
            for path in args:
                text = self.io.read_file(path)
                if text is None:
                    await self.io.write_err(
                        f"cat: {path}: not simulated (this model has no CPU model)\n")
                    status = 1
                else:
                    await self.io.write_out(text)
            return status
        if name == "sleep":
            await self.io.wait(sleep_seconds(args[0]))
            return 0
        if name == "date":
            now = self.io.clock()
            text = str(int(now)) if args else time.strftime("%a %b %e %H:%M:%S UTC %Y",
                                                             time.gmtime(now))
            await self.io.write_out(text + "\n")
            return 0
        if name == "echo":
            await self.io.write_out(" ".join(args) + "\n")
            return 0
        return 1 if name == "false" else 0
