"""A tiny semantic cache in front of the mock, for tests only (not part of the product).

LiteLLM's semantic caches need a vector store server (Redis Stack with its search module, or
Qdrant), which do not install offline here; this stands in for them with the same idea:
embed the prompt (the messages' texts joined by newlines) through the upstream's
``/v1/embeddings``, and answer with the stored response of the most similar earlier prompt
when their cosine is at least ``--threshold``; else forward, and store a 200 answer. Like a
gateway that drops unknown headers, it forwards no ``x-tokenstorm-*`` header (runs through
it use ``[target] tag_prompt``).

    python tests/gateways/semantic_cache_proxy.py --upstream http://127.0.0.1:PORT \
        --port 8090 --threshold 0.85 --embedding-model mock-small
"""

from __future__ import annotations

import argparse
import asyncio

import aiohttp
import numpy as np
from aiohttp import web

_TIMEOUT = aiohttp.ClientTimeout(total=30.0, connect=5.0)


class SemanticCache:
    def __init__(self, upstream: str, threshold: float, embedding_model: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.threshold = threshold
        self.embedding_model = embedding_model
        self.vectors: list[np.ndarray] = []
        self.answers: list[tuple[bytes, str]] = []
        self.session: aiohttp.ClientSession | None = None

    async def _embed(self, session: aiohttp.ClientSession, text: str) -> np.ndarray:
        body = {"model": self.embedding_model, "input": text, "encoding_format": "float"}
        async with session.post(self.upstream + "/v1/embeddings", json=body) as response:
            document = await response.json()
        vector = np.asarray(document["data"][0]["embedding"], dtype=np.float64)
        unit: np.ndarray = vector / np.linalg.norm(vector)
        return unit

    async def chat(self, request: web.Request) -> web.StreamResponse:
        assert self.session is not None
        raw = await request.read()
        document = await request.json()
        texts = [m.get("content") or "" for m in document.get("messages", [])]
        vector = await self._embed(self.session, "\n".join(str(t) for t in texts))
        if self.vectors:
            cosines = np.stack(self.vectors) @ vector
            best = int(np.argmax(cosines))
            if cosines[best] >= self.threshold:
                body, content_type = self.answers[best]
                return web.Response(body=body, headers={"Content-Type": content_type})
        headers = {
            k: v
            for k, v in request.headers.items()
            if k.lower() in ("authorization", "content-type")
        }
        url = self.upstream + "/v1/chat/completions"
        async with self.session.post(url, data=raw, headers=headers) as response:
            body = await response.read()
            content_type = response.headers.get("Content-Type", "application/json")
            status = response.status
        if status == 200:
            self.vectors.append(vector)
            self.answers.append((body, content_type))
        return web.Response(status=status, body=body, headers={"Content-Type": content_type})

    async def start(self, app: web.Application) -> None:
        self.session = aiohttp.ClientSession(timeout=_TIMEOUT)

    async def stop(self, app: web.Application) -> None:
        if self.session is not None:
            await self.session.close()


async def health(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--threshold", type=float, default=0.85)
    parser.add_argument("--embedding-model", default="mock-small")
    args = parser.parse_args()
    cache = SemanticCache(args.upstream, args.threshold, args.embedding_model)
    app = web.Application()
    app.router.add_post("/v1/chat/completions", cache.chat)
    app.router.add_get("/health", health)
    app.on_startup.append(cache.start)
    app.on_cleanup.append(cache.stop)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None)


if __name__ == "__main__":
    asyncio.set_event_loop_policy(None)
    main()
