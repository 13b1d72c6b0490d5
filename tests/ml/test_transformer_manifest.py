"""The transformer plugin's manifest and module, checked without torch (these always run)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys

import yaml

from .conftest import PLUGIN_DIR, PLUGIN_SCRIPT

SOURCE = PLUGIN_SCRIPT.read_text(encoding="utf-8")


def _plugin_info_and_docs() -> dict[str, object]:
    """Import the module in a fresh interpreter; report its info, docstrings and heavy imports."""
    probe = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); import plugin;"
        "actions = plugin.aro_plugin_info()['actions'];"
        "docs = {a: getattr(plugin, 'aro_action_' + a.replace('-', '_')).__doc__ for a in actions};"
        "heavy = sorted(m for m in ('torch', 'transformers', 'numpy') if m in sys.modules);"
        "print(json.dumps({'info': plugin.aro_plugin_info(), 'docs': docs, 'heavy': heavy}))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", probe, str(PLUGIN_SCRIPT.parent)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return json.loads(completed.stdout)


def test_manifest_lists_the_actions_the_module_provides() -> None:
    manifest = yaml.safe_load((PLUGIN_DIR / "plugin.yaml").read_text())
    assert manifest["name"] == "plugin-python-transformer"
    for field in ("version", "description", "author", "license", "aro-version"):
        assert manifest[field]
    (provides,) = manifest["provides"]
    assert provides["type"] == "python-plugin" and provides["path"] == "src/"
    assert provides["python"] == {"min-version": "3.9", "requirements": "requirements.txt"}
    assert (PLUGIN_DIR / provides["path"] / "plugin.py").is_file()
    assert (PLUGIN_DIR / "requirements.txt").is_file()
    report = _plugin_info_and_docs()
    assert provides["actions"] == report["info"]["actions"]  # type: ignore[index]
    assert report["info"]["version"] == manifest["version"]  # type: ignore[index]
    spec_actions = {"generate", "summarize", "embed", "classify", "answer", "models"}
    assert spec_actions | {"batch-classify", "batch-embed", "unload"} <= set(provides["actions"])


def test_importing_the_plugin_stays_light() -> None:
    assert _plugin_info_and_docs()["heavy"] == []


def test_every_action_documents_inputs_and_outputs() -> None:
    docs: dict[str, str] = _plugin_info_and_docs()["docs"]  # type: ignore[assignment]
    for action, doc in docs.items():
        assert doc and "Output:" in doc, action
        if action != "models":
            assert "Input:" in doc, action
    assert "- prompt: The text to continue" in docs["generate"]
    assert "- max_length: " in docs["generate"] and "(default: 100)" in docs["generate"]
    assert "(default: 0.7)" in docs["generate"]
    assert "- context: The context containing the answer" in docs["answer"]


def test_module_is_python_3_9_syntax() -> None:
    tree = ast.parse(SOURCE, feature_version=(3, 9))
    for node in ast.walk(tree):
        annotations = []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            annotations = [a.annotation for a in node.args.args] + [node.returns]
        elif isinstance(node, ast.AnnAssign):
            annotations = [node.annotation]
        for annotation in annotations:
            if annotation is not None:
                assert not any(
                    isinstance(part, ast.BinOp) and isinstance(part.op, ast.BitOr)
                    for part in ast.walk(annotation)
                ), f"X | Y annotation at line {node.lineno} needs Python 3.10"


def test_batch_texts_are_documented_as_lists() -> None:
    """Without a type the dashboard's template put "texts": "", which the action refuses."""
    from aro_tui.core.templates import parse_input_fields

    docs: dict[str, str] = _plugin_info_and_docs()["docs"]  # type: ignore[assignment]
    for action, description in (
        ("batch-embed", "List of texts to embed"),
        ("batch-classify", "List of texts to classify"),
    ):
        assert f"- texts (list): {description}" in docs[action], action
        fields = {field.name: field for field in parse_input_fields(docs[action])}
        assert fields["texts"].description == description
        assert not fields["texts"].has_default
