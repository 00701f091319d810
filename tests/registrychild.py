"""Child process for the registry's SIGKILL test (run as a script, never imported by pytest).

python tests/registrychild.py publish PREFIX
    With TIRO_HOME from the environment, publish personalized versions one after another
    as fast as possible (each a real bundle: lexicon, rules, prompt); after each publish
    returns (its transaction committed) print "<version>". Prints "ready" first. Runs
    until killed.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.bundle import CorrectionRule, DecodingDefaults, LexiconTerm, ModelBundle
from retrain.registry import Registry
from retrain.store import Store


def publish(prefix: str) -> None:
    store = Store.open(auto_snippets=False)
    registry = Registry(store)
    print("ready", flush=True)
    n = 0
    while True:
        n += 1
        draft = ModelBundle(
            version="",
            kind="personal",
            directory=None,
            lexicon=(LexiconTerm(f"Term{n}", 3), LexiconTerm("Kubectl", 2)),
            rules=(CorrectionRule(("cube", "control"), "kubectl", 3, 1.0),),
            decoding=DecodingDefaults(prompt=f"We deploy with kubectl, step {n}."),
            lineage={"n": n},
        )
        info = registry.publish(draft, version=f"{prefix}-{n:05d}")
        print(info.version, flush=True)


if __name__ == "__main__":
    {"publish": publish}[sys.argv[1]](sys.argv[2])
