#!/usr/bin/env python3
"""Lists C++ function bodies longer than a limit (STYLE.md: ~40 lines, a reason over ~60).

  scripts/long_functions.py [--max 60] [--files] [PATH ...]   (default: the whole tree)

A brace-matching scan, no dependency beyond Python 3: a function is a `{` that follows a
`)` (optionally `const`, `override`, `noexcept`, `-> T`, an initializer list) at namespace
or class level, not a control statement or a lambda inside another function. Comments,
strings and character literals are skipped. Lines counted from the signature's line to the
closing brace. A function whose signature is preceded by a comment line containing
"long-function:" is listed with that reason instead of being counted as a finding.
--files also prints the line count of each file over 400 lines.
Exit status 0 always: this is a report, not a gate.
"""
import argparse
import os
import re
import sys

SKIP_DIRS = {"build", "build-asan", ".git", "third_party", "fuzz_seeds"}
CONTROL = {"if", "for", "while", "switch", "catch", "return", "sizeof", "decltype", "alignof"}


def strip_code(text):
    """Returns text with comments, strings and char literals replaced by spaces (newlines kept)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == "R" and text.startswith('R"', i):
            m = re.match(r'R"([^(\s]*)\(', text[i:])
            if not m:
                out.append(c)
                i += 1
                continue
            end = text.find(")" + m.group(1) + '"', i)
            j = n if end < 0 else end + len(m.group(1)) + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c in "\"'":
            if c == "'" and i > 0 and text[i - 1].isalnum():  # digit separator 1'000
                out.append(" ")
                i += 1
                continue
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def function_name(head):
    """The name before the parameter list in `head` (text before a body's `{`), or None."""
    head = head.rstrip()
    # Drop trailing qualifiers and a member initializer list.
    head = re.sub(r"(\s*(const|override|final|noexcept|mutable)\b)+\s*$", "", head)
    head = re.sub(r"\s*->\s*[\w:<>,\s*&]+$", "", head)
    depth = 0
    # Find the parameter list: the last top-level (...) group before an initializer list.
    init = re.search(r"\)\s*:\s*[\w:]+\s*[({]", head)
    if init:
        head = head[: init.start() + 1]
    if not head.endswith(")"):
        return None
    for k in range(len(head) - 1, -1, -1):
        if head[k] == ")":
            depth += 1
        elif head[k] == "(":
            depth -= 1
            if depth == 0:
                m = re.search(r"([~\w:]+(?:operator\W+)?)\s*$", head[:k])
                if not m:
                    return None
                name = m.group(1)
                if name.split("::")[-1] in CONTROL or name in ("", "[]"):
                    return None
                if head[:k].rstrip().endswith("]"):
                    return None  # a lambda
                return name
    return None


def scan(path, limit):
    with open(path, encoding="utf-8", errors="replace") as f:
        raw = f.read()
    code = strip_code(raw)
    raw_lines = raw.split("\n")
    found = []
    stack = []  # (kind, name, start_line) for each open brace
    depth_in_function = 0
    i = 0
    line = 1
    last_stop = 0  # index after the last ; { or } at the current level
    while i < len(code):
        c = code[i]
        if c == "\n":
            line += 1
        elif c == "{":
            kind, name, start = "block", None, line
            if depth_in_function == 0:
                head = code[last_stop:i]
                name = function_name(" ".join(head.split()))
                if name:
                    kind = "function"
                    start = line - head.rstrip().count("\n") - (0)
                    # start at the line of the signature's first non-blank character
                    stripped = head.lstrip()
                    start = line - stripped.count("\n")
            stack.append((kind, name, start))
            if kind == "function":
                depth_in_function += 1
            elif depth_in_function:
                depth_in_function += 1
            last_stop = i + 1
        elif c == "}":
            if stack:
                kind, name, start = stack.pop()
                if depth_in_function:
                    depth_in_function -= 1
                if kind == "function":
                    length = line - start + 1
                    if length > limit:
                        reason = ""
                        for back in range(start - 2, max(start - 6, -1), -1):
                            if 0 <= back < len(raw_lines) and "long-function:" in raw_lines[back]:
                                reason = raw_lines[back].split("long-function:", 1)[1].strip()
                                break
                    if length > limit:
                        found.append((length, name, start, reason))
            last_stop = i + 1
        elif c == ";" and depth_in_function == 0:
            last_stop = i + 1
        i += 1
    return found, len(raw_lines)


def walk(paths):
    for root in paths:
        if os.path.isfile(root):
            yield root
            continue
        for d, dirs, files in os.walk(root):
            dirs[:] = sorted(x for x in dirs if x not in SKIP_DIRS and not x.startswith("build"))
            for f in sorted(files):
                if f.endswith((".cc", ".h", ".cpp")):
                    yield os.path.join(d, f)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--max", type=int, default=60)
    ap.add_argument("--files", action="store_true", help="also list files over 400 lines")
    ap.add_argument("paths", nargs="*", default=["."])
    args = ap.parse_args()
    rows, big = [], []
    for path in walk(args.paths):
        found, nlines = scan(path, args.max)
        rel = os.path.relpath(path)
        rows += [(n, rel, name, start, reason) for n, name, start, reason in found]
        if nlines > 400:
            big.append((nlines, rel))
    rows.sort(key=lambda r: (-r[0], r[1]))
    for n, rel, name, start, reason in rows:
        note = f"  (reason: {reason})" if reason else ""
        print(f"{n:5d}  {rel}:{start}  {name}{note}")
    unexplained = sum(1 for r in rows if not r[4])
    print(f"# {len(rows)} functions over {args.max} lines, {unexplained} without a reason")
    if args.files:
        for nlines, rel in sorted(big, reverse=True):
            print(f"{nlines:5d}  {rel}  (file)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
