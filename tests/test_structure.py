"""The code stays easy to change: no function in hw/, sim/, boards/ or zskip/ longer than 100 lines, and
no private name (``_x``) imported from another of our packages."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("golden_model", "hw", "sim", "boards", "zskip")


def _modules(*packages):
    for package in packages:
        for path in sorted((ROOT / package).rglob("*.py")):
            yield path, ast.parse(path.read_text())


def test_no_function_is_longer_than_100_lines():
    long = [f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
            for path, tree in _modules("hw", "sim", "boards", "zskip") for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 100]
    assert long == []


def test_no_private_name_crosses_a_package():
    crossings = []
    for path, tree in _modules(*PACKAGES):
        own = path.relative_to(ROOT).parts[0]
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                other = node.module.split(".")[0]
                private = [a.name for a in node.names if a.name.startswith("_")]
                if other in PACKAGES and other != own and (private or "._" in f".{node.module}"):
                    crossings.append(f"{path.relative_to(ROOT)}:{node.lineno} from {node.module} import {private}")
    assert crossings == []
