#!/usr/bin/env python3
"""Fails when the documentation's C++ differs from the code the doc-snippet tests compile.

Every ```cpp block of README.md and docs/*.md, and the example at the top of each header
listed in HEADERS, must appear verbatim (whitespace aside) in some file under
tests/doc_snippets/, after that file's declared substitutions
(`// doc-snippet-substitute: DOC TEXT => TEST TEXT`, used for keys: see snippets.hpp).
So a doc cannot be edited without the compiled and run copy being edited too.

Usage: check_snippets.py SOURCE_DIR
"""
import pathlib
import re
import sys

# Headers whose leading comment holds a compilable example (lines "//   code").
HEADERS = [
    "include/ipckit/sysv/message_queue.hpp",
    "include/ipckit/sysv/semaphore.hpp",
    "include/ipckit/sysv/shared_memory.hpp",
    "include/ipckit/object.hpp",
    "include/ipckit/manager.hpp",
    "include/ipckit/shared.hpp",
    "include/ipckit/lock.hpp",
    "include/ipckit/process.hpp",
    "include/ipckit/queue.hpp",
    "include/ipckit/pipe.hpp",
    "include/ipckit/pool.hpp",
    "include/ipckit/manager_registry.hpp",
]

SUBSTITUTE = re.compile(r"^\s*// doc-snippet-substitute: (.+?) => (.+?)\s*$", re.M)


def normalise(text):
    # Whitespace aside, entirely: clang-format may lay a snippet out differently in a test.
    return "".join(text.split())


def markdown_snippets(path, root):
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        if lines[i].strip() == "```cpp":
            start = i + 1
            end = start
            while end < len(lines) and lines[end].strip() != "```":
                end += 1
            yield f"{path.relative_to(root)}:{start + 1}", "\n".join(lines[start:end])
            i = end
        i += 1


def header_snippet(path, root):
    """The first run of "//   " lines in the header's leading comment."""
    run, first = [], None
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.startswith("//"):
            break
        if line.startswith("//   "):
            run.append(line[len("//   "):])
            first = first or number
        elif run:
            break
    if run:
        yield f"{path.relative_to(root)}:{first}", "\n".join(run)


def main():
    root = pathlib.Path(sys.argv[1]).resolve()
    tests = []
    for test in sorted((root / "tests" / "doc_snippets").glob("*.cpp")):
        text = test.read_text(encoding="utf-8")
        tests.append((normalise(text), SUBSTITUTE.findall(text)))
    snippets = []
    for doc in [root / "README.md", *sorted((root / "docs").glob("*.md"))]:
        snippets += markdown_snippets(doc, root)
    for header in HEADERS:
        found = list(header_snippet(root / header, root))
        if not found:
            print(f"{header}: no example found at the top (update HEADERS)")
            return 1
        snippets += found
    missing = []
    for where, snippet in snippets:
        ok = False
        for text, substitutions in tests:
            expected = snippet
            for doc_text, test_text in substitutions:
                expected = expected.replace(doc_text, test_text)
            if normalise(expected) in text:
                ok = True
                break
        if not ok:
            missing.append((where, snippet))
    for where, snippet in missing:
        print(f"{where}: this snippet is not compiled by any test in tests/doc_snippets/:")
        print("    " + snippet.replace("\n", "\n    "))
    print(f"{len(snippets) - len(missing)} of {len(snippets)} documented snippets are compiled by "
          "tests/doc_snippets")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
