"""A retriever that calls any server speaking Search-R1's ``POST /retrieve`` API.

This is how the env uses ``anchorgym retrieval serve`` or a user's own
e5 + FAISS wiki-18 server: ``make("anchorgym/ToolQA-v0", retriever="http://127.0.0.1:8000/retrieve")``.
"""

from __future__ import annotations

from collections.abc import Sequence

from anchorgym.envs.toolqa.corpus import Passage
from anchorgym.envs.toolqa.retrieval import Hit, Retriever, check_topk
from anchorgym.errors import EndpointError

DEFAULT_TIMEOUT_S = 30.0


def retrieve_url(url: str) -> str:
    """Return the ``/retrieve`` endpoint for a server URL given with or without it.

    >>> retrieve_url("http://127.0.0.1:8000")
    'http://127.0.0.1:8000/retrieve'
    """
    url = url.rstrip("/")
    return url if url.endswith("/retrieve") else f"{url}/retrieve"


class HttpRetriever(Retriever):
    """Batched retrieval over HTTP.

    Args:
        url: the server, e.g. ``http://127.0.0.1:8000/retrieve`` (``/retrieve`` is added if absent).
        timeout_s: seconds to wait for one batch.
    """

    name = "http"

    def __init__(self, url: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        import httpx

        self.url = retrieve_url(url)
        self._client = httpx.Client(timeout=timeout_s)

    def search(self, queries: Sequence[str], topk: int) -> list[list[Hit]]:
        """POST the batch and parse ``{"result": [[{"document", "score"}]]}``."""
        import httpx

        body = {"queries": list(queries), "topk": check_topk(topk), "return_scores": True}
        try:
            response = self._client.post(self.url, json=body)
        except httpx.HTTPError as error:
            raise EndpointError(
                f"Retrieval server {self.url} is unreachable ({error}). Start one with: anchorgym retrieval serve"
            ) from error
        if response.status_code != 200:
            raise EndpointError(f"Retrieval server {self.url} answered {response.status_code}: {response.text[:300]}")
        try:
            payload = response.json()
        except ValueError as error:
            raise EndpointError(
                f"Retrieval server {self.url} sent a reply that is not JSON: {response.text[:300]!r}. "
                "Is the URL a Search-R1-style /retrieve endpoint?"
            ) from error
        return self._parse(payload, len(body["queries"]))

    def _parse(self, payload: dict, expected: int) -> list[list[Hit]]:
        try:
            results = payload["result"]
            hits = [[_hit(item) for item in result] for result in results]
        except (KeyError, TypeError, ValueError) as error:
            raise EndpointError(
                f"Retrieval server {self.url} sent a malformed reply ({error!r}); "
                'expected {"result": [[{"document": {"id", "contents"}, "score"}]]}.'
            ) from error
        if len(hits) != expected:
            raise EndpointError(f"Retrieval server {self.url} answered {len(hits)} results for {expected} queries.")
        return hits

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()


def _hit(item: dict) -> Hit:
    document = item["document"] if "document" in item else item  # return_scores=False servers send documents
    passage = Passage(str(document["id"]), str(document["contents"]))
    return Hit(passage, float(item.get("score", 0.0)))
