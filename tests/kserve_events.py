"""KServe's payload logger, as far as `keel ingest` sees it: request and response CloudEvents in
binary mode (the `ce-*` headers KServe's logger sets, the inference body as JSON), posted to a
receiver on 127.0.0.1 over one keep-alive connection."""

from __future__ import annotations

import http.client
import json
from typing import Any
from urllib.parse import urlparse

KSERVE = "org.kubeflow.serving.inference"


def headers(ce_id: str, kind: str, time: str, **extra: str) -> dict[str, str]:
    """The headers of one event of KServe's logger (`kind` "request" or "response")."""
    return {
        "Content-Type": "application/json",
        "ce-specversion": "1.0",
        "ce-id": ce_id,
        "ce-type": f"{KSERVE}.{kind}",
        "ce-source": "http://localhost:9081/",
        "ce-time": time,
        "ce-inferenceservicename": "credit",
        "ce-namespace": "default",
        "ce-component": "predictor",
        "ce-endpoint": "default",
        "ce-metadata": "{}",
        **extra,
    }


class Logger:
    """Posts events to a receiver at `url` as KServe's logger does."""

    def __init__(self, url: str, timeout: float = 30) -> None:
        where = urlparse(url)
        self.host, self.port = where.hostname or "127.0.0.1", where.port or 80
        self.timeout = timeout
        self.connection = http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def post(self, head: dict[str, str], body: Any) -> tuple[int, Any]:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        try:
            self.connection.request("POST", "/", body=data, headers=head)
            answer = self.connection.getresponse()
        except (OSError, http.client.HTTPException):
            self.connection.close()
            self.connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            raise
        text = answer.read()
        try:
            return answer.status, json.loads(text)
        except ValueError:
            return answer.status, text.decode(errors="replace")

    def pair(
        self, ce_id: str, time: str, instances: list[Any], predictions: list[Any], **extra: str
    ) -> tuple[int, int]:
        """The request and response events of one answered request; their two statuses."""
        first, _ = self.post(headers(ce_id, "request", time, **extra), {"instances": instances})
        second, _ = self.post(
            headers(ce_id, "response", time, **extra), {"predictions": predictions}
        )
        return first, second

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> Logger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
