"""A real HTTP server on 127.0.0.1 that speaks the OpenAI chat-completions protocol with scripted statuses, for
what a real model server will not do on demand: refuse a key, rate-limit, fail, recover, refuse a request with a
reason, echo the key back, or refuse a prompt as longer than its window.

    python scripted_server.py PORT MODE

    flaky        429, then 500, then answers                 locked       401 everywhere
    judge        answers "Score: N", N = prompt length mod 6  bad          400 with a JSON reason, every request
    verdict      a v2 judge: a fenced JSON verdict, score N where the response holds SCORE=N, else 5 when the
                 response is the reference and 0 when not; "I cannot tell." where it holds GIBBERISH. It answers as
                 the dated snapshot of the model asked for (``<model>-2025-04-14``), as a hosted API does
    bad-text     400 with a plain-text reason                down         500 with a JSON reason, every request
    echo-400     400 whose reason holds the Authorization header it was sent (echo-500: the same as a 500)
    echo-models  /v1/models answers 400 with the Authorization header in its reason
    window       a window of WINDOW characters (a character is a token): /v1/models lists it as max_model_len, a
                 longer prompt gets vLLM's 400, a shorter one an answer with its length as usage.prompt_tokens
    echo-answer  answers with the Authorization header it was sent as the answer's content
    echo-long    400 whose reason holds the Authorization header where a reason is cut short (after 170 dots)
    html, choices-nope, choices-empty, no-message, content-number, usage-text, list-body, models-garbage
                 a 200 that is not a chat completion (BROKEN below); models-garbage: a /v1/models list of strings

``GET /health`` answers 200 in every mode. Each chat request it receives is appended to ``requests.jsonl`` in the
working directory.
"""

from __future__ import annotations

import json
import re
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT, MODE = int(sys.argv[1]), sys.argv[2]
SCRIPT = {"flaky": [429, 500]}.get(MODE, [])
WINDOW = 100
HTML = "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
BROKEN = {
    "html": HTML,
    "choices-nope": {"id": "x", "object": "chat.completion", "choices": "nope"},
    "choices-empty": {"id": "x", "object": "chat.completion", "choices": []},
    "no-message": {"id": "x", "object": "chat.completion", "choices": [{"index": 0, "finish_reason": "stop"}]},
    "content-number": {"choices": [{"index": 0, "message": {"role": "assistant", "content": 42}}]},
    "usage-text": {"choices": [{"index": 0, "message": {"content": "x"}}], "usage": {"prompt_tokens": "many"}},
    "list-body": ["not", "a", "completion"],
}
"""Replies (status 200) that are not a chat completion, by mode."""
seen = {"chat": 0}


def verdict(prompt: str) -> str:
    """The verdict mode's reply to a v2 judge prompt (see the module's docstring)."""
    parts = re.search(r"\[Reference answer\(s\)\]\n(.*?)\n\n\[Response to grade\]\n(.*?)\n\nScore ", prompt, re.S)
    if parts is None or "GIBBERISH" in parts.group(2):
        return "I cannot tell."
    asked = re.search(r"SCORE=(\d)", parts.group(2))
    score = int(asked.group(1)) if asked else 5 if parts.group(1) == parts.group(2) else 0
    return f'My verdict:\n```json\n{{"score": {score}, "reason": "scripted"}}\n```'


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass

    def reply(self, status: int, body: dict | list | str) -> None:
        data = (body if isinstance(body, str) else json.dumps(body)).encode()
        kind = "text/html" if body == HTML else "text/plain" if isinstance(body, str) else "application/json"
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # /v1/models (and /health, up in every mode)
        auth = self.headers.get("Authorization", "")
        if self.path == "/health":
            return self.reply(200, {"status": "ok"})
        if MODE == "locked":
            return self.reply(401, {"error": {"message": "invalid api key", "type": "auth"}})
        if MODE == "echo-models":
            return self.reply(400, {"detail": f"no model for the key in '{auth}'"})
        if MODE in ("html", "models-garbage"):
            return self.reply(200, HTML if MODE == "html" else {"object": "list", "data": ["scripted", 7]})
        model = {"id": "scripted", "object": "model", **({"max_model_len": WINDOW} if MODE == "window" else {})}
        self.reply(200, {"object": "list", "data": [model]})

    def do_POST(self) -> None:  # /v1/chat/completions
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        auth = self.headers.get("Authorization", "")
        with open("requests.jsonl", "a") as f:
            f.write(json.dumps({"path": self.path, "auth": auth, "body": body}) + "\n")
        text = body["messages"][-1]["content"]
        refusals = {
            "locked": (401, {"error": {"message": "invalid api key", "type": "auth"}}),
            "bad": (400, {"error": {"message": "temperature must be at most 2, got 7", "type": "invalid_request"}}),
            "bad-text": (400, "Bad Request: this server takes no audio\nTraceback (most recent call last): ..."),
            "down": (500, {"error": {"message": "the engine died (CUDA error: device-side assert)", "type": "server"}}),
            "echo-400": (400, {"detail": f"unknown key in '{auth}'"}),
            "echo-500": (500, {"error": {"message": f"upstream refused '{auth}'", "type": "server"}}),
            "echo-long": (400, {"detail": f"{'.' * 170} {auth}"}),
        }
        if MODE in refusals:
            return self.reply(*refusals[MODE])
        if MODE in BROKEN:
            return self.reply(200, BROKEN[MODE])
        n = seen["chat"]
        seen["chat"] += 1
        if n < len(SCRIPT):
            return self.reply(SCRIPT[n], {"error": {"message": f"scripted {SCRIPT[n]}", "type": "server"}})
        if MODE == "window" and len(text) >= WINDOW:
            message = (
                f"This model's maximum context length is {WINDOW} tokens. However, you requested "
                f"{len(text) + body['max_tokens']} tokens ({len(text)} in the messages, {body['max_tokens']} in the "
                "completion). Please reduce the length of the messages or completion."
            )
            return self.reply(400, {"object": "error", "message": message, "type": "BadRequestError", "code": 400})
        answer = "audio" if isinstance(text, list) else text.rsplit(":", 1)[-1].strip() or "empty"
        if MODE == "judge":
            answer = f"Score: {len(text) % 6}"
        if MODE == "echo-answer":
            answer = f"the key was {auth}"
        if MODE == "verdict":
            answer = verdict(text)
        prompt_tokens = len(text) if MODE == "window" else 1
        self.reply(
            200,
            {
                "id": "x",
                "object": "chat.completion",
                "created": 0,
                "model": f"{body['model']}-2025-04-14" if MODE == "verdict" else body["model"],
                "choices": [
                    {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": f" {answer} "}}
                ],
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": 1, "total_tokens": prompt_tokens + 1},
            },
        )


ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
