"""
ARO Plugin - Text Processing

Simple text processing without heavy dependencies (the chapter's §10.10 example).
Like the chapter's version it has no main loop of its own: a host imports it and
dispatches to the aro_action_* functions.
"""

import hashlib
import json
import re
from collections import Counter
from typing import Any, Dict


def aro_plugin_info() -> Dict[str, Any]:
    return {
        "name": "plugin-python-text",
        "version": "1.0.0",
        "actions": ["analyze", "extract-emails", "extract-urls", "hash", "diff"],
    }


def aro_action_analyze(input_json: str) -> str:
    """
    Analyze text statistics.

    Input:
        - text: The text to analyze (default: "")

    Output:
        - characters, words, sentences, paragraphs, unique_words,
          average_word_length, most_common
    """
    params = json.loads(input_json)
    text = params.get("text", params.get("data", ""))

    if not text:
        return json.dumps({"error": "Missing 'text' field"})

    words = text.split()
    word_freq = Counter(words)

    return json.dumps(
        {
            "characters": len(text),
            "characters_no_spaces": len(text.replace(" ", "")),
            "words": len(words),
            "sentences": len(re.findall(r"[.!?]+", text)),
            "paragraphs": len(text.split("\n\n")),
            "unique_words": len(set(words)),
            "average_word_length": round(sum(len(w) for w in words) / len(words), 2)
            if words
            else 0,
            "most_common": word_freq.most_common(5),
        }
    )


def aro_action_extract_emails(input_json: str) -> str:
    """
    Extract email addresses from text.

    Input:
        - text: The text to search (default: "")

    Output:
        - emails: The distinct addresses found
        - count: How many
    """
    params = json.loads(input_json)
    text = params.get("text", params.get("data", ""))

    pattern = r"[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\.[a-zA-Z]{2,}"
    emails = list(set(re.findall(pattern, text)))

    return json.dumps({"emails": emails, "count": len(emails)})


def aro_action_extract_urls(input_json: str) -> str:
    """
    Extract URLs from text.

    Input:
        - text: The text to search (default: "")

    Output:
        - urls: The distinct http(s) URLs found
        - count: How many
    """
    params = json.loads(input_json)
    text = params.get("text", params.get("data", ""))

    pattern = r'https?://[^\s<>"{}|\\^`\[\]]+'
    urls = list(set(re.findall(pattern, text)))

    return json.dumps({"urls": urls, "count": len(urls)})


def aro_action_hash(input_json: str) -> str:
    """
    Generate various hashes of text.

    Input:
        - text: The text to hash (default: "")
        - algorithm: md5, sha1, sha256, sha512 or all (default: "sha256")

    Output:
        - hash and algorithm, or hashes (for "all")
    """
    params = json.loads(input_json)
    text = params.get("text", params.get("data", ""))
    algorithm = params.get("algorithm", "sha256")

    if not text:
        return json.dumps({"error": "Missing 'text' field"})

    data = text.encode("utf-8")

    hashes = {
        "md5": hashlib.md5(data).hexdigest(),
        "sha1": hashlib.sha1(data).hexdigest(),
        "sha256": hashlib.sha256(data).hexdigest(),
        "sha512": hashlib.sha512(data).hexdigest(),
    }

    if algorithm == "all":
        return json.dumps({"hashes": hashes})
    elif algorithm in hashes:
        return json.dumps({"hash": hashes[algorithm], "algorithm": algorithm})
    else:
        return json.dumps({"error": f"Unknown algorithm: {algorithm}"})


def aro_action_diff(input_json: str) -> str:
    """
    Compare two texts and show differences.

    Input:
        - text1: The original text (default: "")
        - text2: The changed text (default: "")

    Output:
        - diff: A unified diff
        - identical: Whether the texts are equal
        - similarity: Ratio between 0 and 1
    """
    params = json.loads(input_json)
    text1 = params.get("text1", "")
    text2 = params.get("text2", "")

    if not text1 or not text2:
        return json.dumps({"error": "Missing 'text1' or 'text2' field"})

    import difflib

    diff = list(
        difflib.unified_diff(
            text1.splitlines(keepends=True),
            text2.splitlines(keepends=True),
            fromfile="text1",
            tofile="text2",
        )
    )

    return json.dumps(
        {
            "diff": "".join(diff),
            "identical": text1 == text2,
            "similarity": round(difflib.SequenceMatcher(None, text1, text2).ratio(), 4),
        }
    )
